-- Workers: runs queued for them, the host a run's agents live on, how often a run's lease was
-- taken over from a driver that died, and the workers that are alive.
--
-- submitted_at: set by `devflow submit`; such a run is driven only by workers (never by the
-- command that decides on it), and a worker claims it while it is queued or its driver is gone.
-- agent_host: the host of the first driver that claimed the run; its agents live in tmux there,
-- so only a driver on that host re-adopts them.
-- lease_takeovers: claims of a lease whose driver died without releasing it, since the last
-- clean release; past a bound the run goes to a human gate instead of around in circles.
ALTER TABLE runs ADD COLUMN submitted_at BIGINT;
ALTER TABLE runs ADD COLUMN agent_host TEXT;
ALTER TABLE runs ADD COLUMN lease_takeovers BIGINT NOT NULL DEFAULT 0;
CREATE INDEX runs_by_state ON runs (state, created_at);

-- One row per live worker process (its id is the lease owner it claims runs as), heartbeat by
-- the database's clock; a row silent past its ttl is a dead worker.
CREATE TABLE workers (
    id TEXT PRIMARY KEY NOT NULL,
    host TEXT NOT NULL,
    pid BIGINT NOT NULL,
    version TEXT NOT NULL,
    concurrency BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);
