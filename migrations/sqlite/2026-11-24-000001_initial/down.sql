-- Drops devflow's tables, children before their parents.
DROP TABLE tui_transcripts;
DROP TABLE tui_sessions;
DROP TABLE approval_requests;
DROP TABLE artifacts;
DROP TABLE run_events;
DROP TABLE run_phases;
DROP TABLE runs;
