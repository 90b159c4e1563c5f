-- The forecast worked example of docs/forecast-and-budgets.md: October 2026 in Asia/Seoul,
-- [2026-09-30T15:00Z, 2026-10-31T15:00Z). As of 2026-10-15T15:00Z (Oct 16 00:00 KST) no
-- change comes after; the figures are checked by hand in the docs.
INSERT INTO projects (project_id, name, billing_account_id) VALUES ('prj-fc', 'Forecast Co.', 'acct-fc');
INSERT INTO instance_types (type_name, category, vcpus, memory_gib, gpu_count, gpu_model) VALUES
    ('r2a.baremetal', 'memory_optimized', 192, 2048, 0, NULL),
    ('p2a.baremetal', 'gpu', 128, 1536, 8, 'A100'),
    ('p1i.baremetal', 'gpu', 56, 512, 4, 'V100');
INSERT INTO instances (instance_id, project_id, type_name, image, name, created_at) VALUES
    ('i-r2a', 'prj-fc', 'r2a.baremetal', 'Ubuntu 22.04', 'db-1', '2026-09-01T00:00:00Z'),
    ('i-p2a', 'prj-fc', 'p2a.baremetal', 'Ubuntu 22.04 (GPU)', 'trainer-1', '2026-10-04T14:00:00Z'),
    ('i-p1i', 'prj-fc', 'p1i.baremetal', 'Ubuntu 22.04 (GPU)', 'inference-1', '2026-09-20T00:00:00Z');
INSERT INTO instance_state_changes (instance_id, state, changed_at, recorded_at) VALUES
    ('i-r2a', 'active', '2026-09-01T00:00:00Z', '2026-09-01T00:00:01Z'),
    ('i-p2a', 'active', '2026-10-04T15:00:00Z', '2026-10-04T15:00:01Z'),   -- Oct 5 00:00 KST
    ('i-p2a', 'stopped', '2026-10-09T15:00:00Z', '2026-10-09T15:00:01Z'),  -- stopped is billed
    ('i-p1i', 'active', '2026-09-20T00:00:00Z', '2026-09-20T00:00:01Z'),
    ('i-p1i', 'error', '2026-10-11T15:00:00Z', '2026-10-11T15:00:01Z');    -- error is not billed
INSERT INTO rates (type_name, currency, hourly_rate, effective_from, effective_to) VALUES
    ('r2a.baremetal', 'KRW', 9876.543210, '2020-01-01T00:00:00Z', '2026-10-20T15:00:00Z'),
    ('r2a.baremetal', 'KRW', 10864.197531, '2026-10-20T15:00:00Z', NULL),  -- Oct 21 00:00 KST, after as_of
    ('p2a.baremetal', 'KRW', 51296, '2020-01-01T00:00:00Z', NULL),
    ('p1i.baremetal', 'KRW', 16996, '2020-01-01T00:00:00Z', NULL);
-- 10 % off GPU servers for the account from Oct 25 00:00 KST (after as_of); p2a capped at 500 h.
INSERT INTO discounts (discount_id, billing_account_id, category, percent, effective_from, description) VALUES
    ('d-gpu', 'acct-fc', 'gpu', 10, '2026-10-24T15:00:00Z', 'GPU servers 10 % off from Oct 25');
INSERT INTO monthly_caps (type_name, cap_hours, effective_from) VALUES ('p2a.baremetal', 500, '2020-01-01T00:00:00Z');
INSERT INTO credits (credit_id, billing_account_id, currency, amount, valid_from, reason) VALUES
    ('c-fc', 'acct-fc', 'KRW', 5000000, '2026-10-01T00:00:00Z', 'Launch credit');
INSERT INTO budgets (budget_id, billing_account_id, monthly_amount, effective_from, description) VALUES
    ('b-fc', 'acct-fc', 30000000, '2020-01-01T00:00:00Z', 'Forecast Co. monthly budget');
