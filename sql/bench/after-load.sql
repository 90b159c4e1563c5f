-- make bench, after the COPY of the state changes: rebuild the indexes that
-- sql/bench/generate.sql set aside (the migrations' own definitions), then VACUUM ANALYZE
-- so that the measured runs find the table as a production one is: statistics current,
-- visibility map and hint bits set.
SET maintenance_work_mem = '1GB';
DO $$
DECLARE r record;
BEGIN
    -- The primary key first: the others are built after it.
    FOR r IN SELECT definition FROM bench_set_aside_indexes ORDER BY is_primary DESC, name LOOP
        EXECUTE r.definition;
    END LOOP;
END $$;
DROP TABLE bench_set_aside_indexes;
VACUUM (ANALYZE) instance_state_changes;
ANALYZE;
