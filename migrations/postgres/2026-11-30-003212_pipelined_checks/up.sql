-- An assertion for writes that travel in one pipeline with their step's COMMIT
-- (db/src/conn.rs, "Deferred"): when `ok` is not true the statement raises, the transaction
-- aborts, and the COMMIT behind it rolls back. The message starts with `devflow_check: ` so
-- that the client can tell a failed check from any other error.
CREATE FUNCTION devflow_check(ok boolean, message text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION 'devflow_check: %', message;
    END IF;
    RETURN true;
END
$$;
