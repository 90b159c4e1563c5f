-- Pricing rows for `make bench` (measure "cp"): a few hundred discounts and credits and two
-- caps over the benchmark's 1,000 projects and 200 billing accounts, every row valid, so
-- that the run bills the same month with pricing and its cost can be compared with (c).
-- psql variable :month_start (first instant of the benchmark month, UTC).
TRUNCATE discounts, monthly_caps, credits, credit_applications, budget_alerts, invoice_lines, invoices, billing_runs, invoice_number_series RESTART IDENTITY;

-- 200 projects with their own discount on every type, all month.
INSERT INTO discounts (discount_id, project_id, percent, effective_from, description)
SELECT 'd-prj-' || p, 'prj-' || lpad(p::text, 4, '0'), 5, '2020-01-01', 'partner discount'
FROM generate_series(0, 199) p;
-- 100 accounts with a GPU discount from the 16th.
INSERT INTO discounts (discount_id, billing_account_id, category, percent, effective_from, description)
SELECT 'd-acct-' || a, 'acct-' || a, 'gpu', 12.5, :'month_start'::timestamptz + interval '15 days', 'enterprise agreement'
FROM generate_series(0, 99) a;
-- 50 projects with a ten-day promotion on r2a, interrupting the discounts above.
INSERT INTO discounts (discount_id, project_id, type_name, percent, effective_from, effective_to, description)
SELECT 'd-promo-' || p, 'prj-' || lpad(p::text, 4, '0'), 'r2a.baremetal', 20,
       :'month_start'::timestamptz + interval '9 days', :'month_start'::timestamptz + interval '19 days', 'promotion'
FROM generate_series(150, 199) p;

INSERT INTO monthly_caps VALUES ('r2a.baremetal', 600, '2020-01-01', NULL), ('p1i.baremetal', 700, '2020-01-01', NULL);

-- A welcome credit per account and 100 project credits that expire mid-month.
INSERT INTO credits (credit_id, billing_account_id, currency, amount, valid_from, reason)
SELECT 'c-welcome-' || a, 'acct-' || a, 'KRW', 50000000, '2020-01-01', 'welcome credit' FROM generate_series(0, 199) a;
INSERT INTO credits (credit_id, billing_account_id, project_id, currency, amount, valid_from, expires_at, reason)
SELECT 'c-sla-' || p, 'acct-' || (p % 200), 'prj-' || lpad(p::text, 4, '0'), 'KRW', 1000000, '2020-01-01',
       :'month_start'::timestamptz + interval '40 days', 'SLA credit'
FROM generate_series(0, 99) p;
