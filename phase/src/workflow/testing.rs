//! For the loader's tests: a workflow's text loaded from a folder with an empty schema `s.json`.

use super::Workflow;

pub(super) fn load(text: &str) -> Result<Workflow, devflow_core::Error> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.json"), "{}").unwrap();
    let path = dir.path().join("w.toml");
    std::fs::write(&path, text).unwrap();
    Workflow::load(&path)
}
