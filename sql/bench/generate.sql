-- Deterministic benchmark data (make bench), first part: the small tables. psql variables
-- :instances, :history_months, :month_start (first instant of the benchmark month, UTC).
TRUNCATE projects, instance_types, instances, instance_state_changes, rates, discounts, monthly_caps, credits, credit_applications, budgets, budget_alerts,
         invoice_lines, invoices, billing_runs, invoice_number_series RESTART IDENTITY;

INSERT INTO projects SELECT 'prj-' || lpad(p::text, 4, '0'), 'Project ' || p, 'acct-' || (p % 200) FROM generate_series(0, 999) p;
INSERT INTO instance_types VALUES
    ('r2a.baremetal', 'memory_optimized', 192, 2048, 0, NULL),
    ('p2a.baremetal', 'gpu', 128, 1536, 8, 'A100'),
    ('p1i.baremetal', 'gpu', 56, 512, 4, 'V100');
INSERT INTO rates VALUES
    ('r2a.baremetal', 'KRW', 9876.543210, '2000-01-01 00:00:00+00', NULL),
    ('p2a.baremetal', 'KRW', 51296, '2000-01-01 00:00:00+00', :'month_start'::timestamptz + interval '14 days 3 hours 17 minutes'),
    ('p2a.baremetal', 'KRW', 48731.2, :'month_start'::timestamptz + interval '14 days 3 hours 17 minutes', NULL),
    ('p1i.baremetal', 'KRW', 16996, '2000-01-01 00:00:00+00', NULL);

INSERT INTO instances
SELECT 'i-' || lpad(i::text, 7, '0'), 'prj-' || lpad((i % 1000)::text, 4, '0'),
       CASE WHEN i % 10 < 5 THEN 'r2a.baremetal' WHEN i % 10 < 8 THEN 'p2a.baremetal' ELSE 'p1i.baremetal' END,
       CASE WHEN i % 10 < 5 THEN 'Ubuntu 22.04' ELSE 'Ubuntu 22.04 (GPU)' END,
       'server-' || i, :'month_start'::timestamptz - (:history_months || ' months')::interval
FROM generate_series(0, :instances - 1) i;

-- The state changes are loaded by scripts/bench with COPY from scripts/bench-generate.py.
-- Loading into a table with its indexes costs several times more than building them
-- afterwards, so they are set aside here, the primary key's too (their definitions kept),
-- and rebuilt by sql/bench/after-load.sql.
DROP TABLE IF EXISTS bench_set_aside_indexes;
CREATE TABLE bench_set_aside_indexes AS
    SELECT c.relname AS name, i.indisprimary AS is_primary,
           CASE WHEN i.indisprimary
                THEN format('ALTER TABLE instance_state_changes ADD CONSTRAINT %I %s', c.relname,
                            pg_get_constraintdef((SELECT oid FROM pg_constraint WHERE conindid = i.indexrelid AND contype = 'p')))
                ELSE pg_get_indexdef(i.indexrelid) END AS definition
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
    WHERE i.indrelid = 'instance_state_changes'::regclass;
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT name, is_primary FROM bench_set_aside_indexes LOOP
        IF r.is_primary THEN
            EXECUTE format('ALTER TABLE instance_state_changes DROP CONSTRAINT %I', r.name);
        ELSE
            EXECUTE format('DROP INDEX %I', r.name);
        END IF;
    END LOOP;
END $$;
