-- Deterministic benchmark data (make bench): psql variables :instances, :per_month (changes
-- per instance in the benchmark month), :history_months, :history_per_month (changes per
-- instance in each earlier month), :month_start (first instant of the benchmark month, UTC).
-- Every instance cycles through known states (no anomalies), in time order as a control
-- plane would insert them.
TRUNCATE projects, instance_types, instances, instance_state_changes, rates, invoice_lines, invoices, billing_runs, invoice_number_series RESTART IDENTITY;

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

-- One month of changes: :n per instance, spread over the month with a per-instance offset.
CREATE OR REPLACE FUNCTION pg_temp.month_changes(m_start timestamptz, n int, instances int) RETURNS void LANGUAGE sql AS $$
    INSERT INTO instance_state_changes (instance_id, state, changed_at, recorded_at)
    SELECT 'i-' || lpad(i::text, 7, '0'),
           (ARRAY['active', 'powering-off', 'stopped', 'powering-on', 'active', 'rebooting_hard', 'rebooting_started_hard', 'active', 'error', 'active'])[1 + (k % 10)],
           t, t + interval '1 second'
    FROM generate_series(0, n - 1) k, generate_series(0, instances - 1) i,
         LATERAL (SELECT m_start + ((extract(epoch FROM (m_start + interval '1 month') - m_start) * k / n)
                                    + ((i::bigint * 2654435761) % 1000003) / 1000003.0 * (extract(epoch FROM (m_start + interval '1 month') - m_start) / n))
                                   * interval '1 second' AS t) tt
    ORDER BY k, i;
$$;

SELECT pg_temp.month_changes(:'month_start'::timestamptz - (m || ' months')::interval, :history_per_month, :instances)
FROM generate_series(:history_months, 1, -1) m;
SELECT pg_temp.month_changes(:'month_start'::timestamptz, :per_month, :instances);
ANALYZE;
