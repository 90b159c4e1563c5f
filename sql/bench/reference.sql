-- The same per-project totals as `bmbill run`, computed in PostgreSQL alone: the "b"
-- figure of `make bench`. Parameters (psql variables): :'period_start', :'period_end'
-- (UTC instants of the billing window), :'currency'. Default settings: granularity
-- second, rounding half-up, VAT 10 %. It covers the clean-data case only (no anomalies).
WITH carried AS (
    SELECT DISTINCT ON (instance_id) instance_id, state, changed_at, event_id
    FROM instance_state_changes
    WHERE changed_at < :'period_start'::timestamptz
    ORDER BY instance_id, changed_at DESC, event_id DESC
), changes AS (
    SELECT instance_id, state, changed_at, event_id FROM carried
    UNION ALL
    SELECT instance_id, state, changed_at, event_id FROM instance_state_changes
    WHERE changed_at >= :'period_start'::timestamptz AND changed_at < :'period_end'::timestamptz
), intervals AS (
    SELECT instance_id, bmbill_canonical_state(state) AS state,
           greatest(changed_at, :'period_start'::timestamptz) AS t0,
           least(coalesce(lead(changed_at) OVER w, :'period_end'::timestamptz), :'period_end'::timestamptz) AS t1
    FROM changes
    WINDOW w AS (PARTITION BY instance_id ORDER BY changed_at, event_id)
), billed AS (
    SELECT i.project_id, iv.instance_id, r.effective_from, r.hourly_rate,
           extract(epoch FROM least(iv.t1, coalesce(r.effective_to, 'infinity')) - greatest(iv.t0, r.effective_from)) AS seconds
    FROM intervals iv
    JOIN billable_states b ON b.state = iv.state AND b.billable
    JOIN instances i USING (instance_id)
    JOIN rates r ON r.type_name = i.type_name AND r.currency = :'currency'
                AND r.effective_from < iv.t1 AND coalesce(r.effective_to, 'infinity') > iv.t0
    WHERE iv.t1 > iv.t0
), lines AS (
    SELECT project_id, instance_id, effective_from, hourly_rate, ceil(sum(seconds)) AS billable_seconds
    FROM billed GROUP BY project_id, instance_id, effective_from, hourly_rate
), amounts AS (
    SELECT project_id, round(billable_seconds * hourly_rate / 3600) AS amount FROM lines  -- half away from zero
), projects_total AS (
    SELECT project_id, sum(amount) AS subtotal FROM amounts GROUP BY project_id
)
SELECT project_id, subtotal, round(subtotal * 0.10) AS tax, subtotal + round(subtotal * 0.10) AS total
FROM projects_total ORDER BY project_id;
