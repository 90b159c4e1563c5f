-- bmbill 014: the period's instance ids from the index alone. The reader reads each
-- instance's changes of a period by one probe of instance_state_changes_instance_time per
-- instance (no sort, on any table layout), and finds the changes of instances that have no
-- instances row (orphans, an anomaly) with an index-only scan of this index against
-- instances. It replaces the plain index on changed_at, which it covers.
--
-- On a large table, building it holds writes to instance_state_changes for a while; to
-- avoid that, create it beforehand with
--   CREATE INDEX CONCURRENTLY instance_state_changes_changed_at_instance
--       ON instance_state_changes (changed_at) INCLUDE (instance_id);
-- and this migration then finds it in place (drop the old index concurrently after).
CREATE INDEX IF NOT EXISTS instance_state_changes_changed_at_instance
    ON instance_state_changes (changed_at) INCLUDE (instance_id);
DROP INDEX IF EXISTS instance_state_changes_changed_at;
