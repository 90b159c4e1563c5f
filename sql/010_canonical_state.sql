-- bmbill 010: one canonical-state rule for SQL and Swift (BillableStateTable.canonical).
-- A state name is compared after trimming every Unicode white-space character (the
-- White_Space property, all 25) from both ends and lowering the ASCII letters A-Z, and
-- nothing else: translate() lowers exactly A-Z under every collation, where lower()
-- follows the database's. Before this, SQL trimmed only ASCII white space, so a
-- `deleted` padded with a no-break space was final in its own month (Swift) but not in
-- the next (SQL), and the instance was billed after its deletion.
--
-- The partial index of `deleted` changes (migration 008) is rebuilt on this function:
-- the reader's query names the same expression, so the planner uses it. Never change
-- the function's body without rebuilding the index. On a large table, build the new
-- index beforehand, outside a transaction, to avoid holding writes:
--   CREATE INDEX CONCURRENTLY instance_state_changes_deleted_v2 ON instance_state_changes
--       (instance_id, changed_at, event_id) WHERE bmbill_canonical_state(state) = 'deleted';
-- (after creating the function below) and this migration finds it in place.
CREATE OR REPLACE FUNCTION bmbill_canonical_state(state text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT translate(
        btrim(state, E'\u0009\u000A\u000B\u000C\u000D\u0020\u0085\u00A0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200A\u2028\u2029\u202F\u205F\u3000'),
        'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
$$;

CREATE INDEX IF NOT EXISTS instance_state_changes_deleted_v2
    ON instance_state_changes (instance_id, changed_at, event_id)
    WHERE bmbill_canonical_state(state) = 'deleted';
DROP INDEX IF EXISTS instance_state_changes_deleted;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bmbill_reader') THEN
        GRANT EXECUTE ON FUNCTION bmbill_canonical_state(text) TO bmbill_reader;
    END IF;
END
$$;
