//! `devflow init`: `.devflow/` in the worktree, with the example workflow to start from.

use std::path::Path;

use devflow_core::{Code, Error};

use crate::args::Place;
use crate::context::Context;
use crate::exit::{self, Status};

/// The example workflow (examples/feature), written under `.devflow/`.
const FILES: &[(&str, &str)] = &[
    ("workflow.toml", include_str!("../../../examples/feature/workflow.toml")),
    (
        "schemas/plan.schema.json",
        include_str!("../../../examples/feature/schemas/plan.schema.json"),
    ),
    (
        "schemas/implementation.schema.json",
        include_str!("../../../examples/feature/schemas/implementation.schema.json"),
    ),
    (
        "schemas/review.schema.json",
        include_str!("../../../examples/feature/schemas/review.schema.json"),
    ),
    ("prompts/plan.md", include_str!("../../../examples/feature/prompts/plan.md")),
    ("prompts/implement.md", include_str!("../../../examples/feature/prompts/implement.md")),
    ("prompts/review.md", include_str!("../../../examples/feature/prompts/review.md")),
    (".gitignore", "devflow.db*\ntmux*\n"),
];

pub async fn run(place: &Place) -> Result<Status, Error> {
    let context = Context::new(place)?;
    let dir = context.devflow_dir();
    for (name, text) in FILES {
        write_new(&dir.join(name), text)?;
    }
    let db = context.connect().await?;
    out!("initialized {} (database {})", dir.display(), db.url());
    out!("next: devflow run {}", dir.join("workflow.toml").display());
    Ok(exit::COMPLETED)
}

/// Writes `text` unless the file exists (a person's edits are kept).
fn write_new(path: &Path, text: &str) -> Result<(), Error> {
    if path.exists() {
        out!("kept     {}", path.display());
        return Ok(());
    }
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(path, text));
    written.map_err(|error| {
        Error::new(Code::WorkspacePermissions, format!("cannot write {}: {error}", path.display()))
    })?;
    out!("created  {}", path.display());
    Ok(())
}
