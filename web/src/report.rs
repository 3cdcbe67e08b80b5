//! `devflow report`: the run's timeline as a page of its own — inline styles, the drawing
//! inline, no script and nothing fetched — so it shows with the browser offline, attached to a
//! pull request or a chat. The drawing is the server's (`timeline::svg`).

use devflow_core::StateMachine;
use devflow_db::now_ms;
use devflow_phase::view::{RunView, time};
use maud::{DOCTYPE, PreEscaped, html};

use crate::static_files::STYLE;
use crate::timeline::{Timeline, svg};

/// The page, as one HTML document.
pub fn html(view: &RunView, timeline: &Timeline) -> String {
    let run = &view.run;
    let now = now_ms();
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "Run " (run.id) " · devflow report" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                main {
                    h1 { "Run " (run.id) " " span class={"state " (run.state.as_str())} { (run.state.as_str()) } }
                    p {
                        "workflow " strong { (run.workflow) } " · created " (time::local(run.created_at))
                        @if let Some(ended) = run.ended_at { " · ended " (time::local(ended)) " (took " (time::duration(ended - run.created_at)) ")" }
                        " · reported " (time::local(now))
                    }
                    (svg(timeline))
                    h2 { "Phases" }
                    table {
                        thead { tr { th { "Phase" } th { "State" } th { "Attempts" } th { "Took" } } }
                        tbody {
                            @for phase in &view.phases {
                                tr {
                                    td { (phase.phase_key) }
                                    td { (phase.state.as_str()) }
                                    td { (phase.attempts) }
                                    td { @match (phase.started_at, phase.ended_at) {
                                        (Some(start), Some(end)) => (time::duration(end - start)),
                                        _ => "-",
                                    } }
                                }
                            }
                        }
                    }
                    @if !view.gates.is_empty() {
                        h2 { "Gates" }
                        table {
                            thead { tr { th { "Gate" } th { "Phase" } th { "State" } th { "Decided by" } th { "Note" } } }
                            tbody {
                                @for gate in &view.gates {
                                    tr {
                                        td { (gate.gate_key) }
                                        td { (view.phase_key(&gate.phase_id)) }
                                        td { (gate.state.as_str()) }
                                        td { (gate.decided_by.as_deref().unwrap_or("-")) }
                                        td { (gate.decision_note.as_deref().unwrap_or("")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page.into_string()
}
