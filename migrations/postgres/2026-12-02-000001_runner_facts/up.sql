-- What the phase runner decides its next step from, kept where it can be read back after a
-- crash: the artifact recorded in the phase's current attempt (cleared when an attempt starts),
-- and what the artifact path held when the session's last prompt went out (the wait's baseline).
ALTER TABLE run_phases ADD COLUMN artifact_id TEXT;
ALTER TABLE tui_sessions ADD COLUMN artifact_baseline TEXT;
