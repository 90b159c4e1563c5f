-- bmbill 008: the state an instance carries into a period is its first `deleted` when it
-- has one (deleted is final). This partial index holds only `deleted` changes, so that
-- state is one probe per instance, however long the history (issue 5: work grows with
-- the period's changes, not with history). The predicate is the reader's canonical form
-- of a state name (SourceReader.canonicalState) and must stay identical to it.
--
-- On a large table, building it holds writes to instance_state_changes for a while; to
-- avoid that, create it beforehand with
--   CREATE INDEX CONCURRENTLY instance_state_changes_deleted ON instance_state_changes (instance_id, changed_at, event_id)
--       WHERE lower(btrim(state, E' \t\n\r\f\x0B')) = 'deleted';
-- and this migration then finds it in place.
CREATE INDEX IF NOT EXISTS instance_state_changes_deleted
    ON instance_state_changes (instance_id, changed_at, event_id)
    WHERE lower(btrim(state, E' \t\n\r\f\x0B')) = 'deleted';
