ALTER TABLE tui_sessions DROP COLUMN artifact_baseline;
ALTER TABLE run_phases DROP COLUMN artifact_id;
