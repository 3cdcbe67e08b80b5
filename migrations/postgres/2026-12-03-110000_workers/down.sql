DROP TABLE workers;
DROP INDEX runs_by_state;
ALTER TABLE runs DROP COLUMN lease_takeovers;
ALTER TABLE runs DROP COLUMN agent_host;
ALTER TABLE runs DROP COLUMN submitted_at;
