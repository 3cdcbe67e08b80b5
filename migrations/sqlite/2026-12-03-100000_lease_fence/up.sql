-- The lease as a fence: every claim of a run's lease (a new driver, a take-over) increments
-- lease_epoch, and every durable step checks, under the run's lock, that the lease is still
-- its driver's and the epoch the one that driver was given. A driver that froze past its
-- lease and wakes up after another took the run over finds the epoch moved on and writes
-- nothing (`lease_lost`).
ALTER TABLE runs ADD COLUMN lease_epoch BIGINT NOT NULL DEFAULT 0;
