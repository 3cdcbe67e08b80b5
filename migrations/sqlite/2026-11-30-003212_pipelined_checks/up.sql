-- Nothing to do on SQLite: its writes run inside the step, and their checks run in the client
-- before the COMMIT (PostgreSQL's pipelined checks: ../../postgres/2026-11-30-003212_pipelined_checks).
SELECT 1;
