//! `devflow report RUN [--html FILE] [--svg FILE]`: the run's timeline as a self-contained
//! page or picture, drawn by devflow-web exactly as `devflow serve` draws it.

use std::path::Path;

use devflow_core::Error;
use devflow_db::now_ms;
use devflow_phase::view::RunView;
use devflow_web::timeline::{Timeline, svg_document};

use crate::args::Place;
use crate::context::{Context, invalid, not_found};
use crate::exit::{self, Status};
use crate::output::note;

pub async fn run(
    run_id: &str,
    html: Option<&Path>,
    svg: Option<&Path>,
    place: &Place,
) -> Result<Status, Error> {
    let db = Context::new(place)?.open_existing().await?;
    let view = RunView::load(&db, run_id).await?.ok_or_else(|| not_found(run_id))?;
    let timeline = Timeline::load(&db, run_id, now_ms()).await?.ok_or_else(|| not_found(run_id))?;
    let page = || devflow_web::report::html(&view, &timeline);
    if let Some(path) = svg {
        write(path, &svg_document(&timeline))?;
    }
    if let Some(path) = html {
        write(path, &page())?;
    }
    if html.is_none() && svg.is_none() {
        out!("{}", page());
    }
    Ok(exit::COMPLETED)
}

fn write(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(|error| {
        invalid(format!("cannot write {}: {error}", path.display()))
            .with_hint("name a file in a folder that exists and that you can write")
    })?;
    note(&format!("devflow: wrote {}", path.display()));
    Ok(())
}
