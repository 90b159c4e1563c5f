-- Output tables: written by bmbill, read by finance (data-contract.md).

CREATE TABLE IF NOT EXISTS billing_runs (
    run_id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    period           text NOT NULL CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
    kind             text NOT NULL CHECK (kind IN ('scheduled', 'recompute')),
    -- issued: invoices issued by this run; draft: drafts written; unchanged: nothing
    -- differed from what was stored; blocked: data errors kept invoices from issue.
    status           text NOT NULL,
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz NOT NULL,
    as_of            timestamptz NOT NULL,
    period_start     timestamptz NOT NULL,
    period_end       timestamptz NOT NULL,
    window_end       timestamptz NOT NULL,
    input_watermark  timestamptz,
    settings         jsonb NOT NULL,
    counts           jsonb NOT NULL,
    totals           jsonb NOT NULL,
    anomalies        jsonb NOT NULL,
    rates_in_force   jsonb NOT NULL,
    output_checksums jsonb,
    host             text,
    pid              int,
    db_user          text NOT NULL DEFAULT current_user
);
CREATE INDEX IF NOT EXISTS billing_runs_period ON billing_runs (period, run_id);

-- Gapless invoice numbers: one row per series, its counter bumped inside the
-- transaction that issues (a sequence would leave gaps on rollback).
CREATE TABLE IF NOT EXISTS invoice_number_series (
    series      text PRIMARY KEY,
    last_number bigint NOT NULL CHECK (last_number >= 0)
);

CREATE TABLE IF NOT EXISTS invoices (
    invoice_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id          text NOT NULL,
    period              text NOT NULL CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
    revision            int NOT NULL DEFAULT 0 CHECK (revision >= 0),
    status              text NOT NULL CHECK (status IN ('draft', 'issued', 'superseded')),
    invoice_number      text UNIQUE,
    currency            char(3) NOT NULL,
    subtotal            numeric NOT NULL,
    tax                 numeric NOT NULL,
    total               numeric NOT NULL,
    -- On a correcting revision: what it adds to (or, negative, credits against) the
    -- revision it corrects. subtotal/tax/total are always the full corrected amounts.
    difference_subtotal numeric,
    difference_tax      numeric,
    difference          numeric,
    corrects_invoice_id bigint REFERENCES invoices (invoice_id),
    run_id              bigint NOT NULL REFERENCES billing_runs (run_id),
    issued_at           timestamptz,
    project_name        text NOT NULL,
    billing_account_id  text,
    timezone            text NOT NULL,
    period_start        timestamptz NOT NULL,
    period_end          timestamptz NOT NULL,
    window_end          timestamptz NOT NULL,
    vat_rate            numeric NOT NULL,
    rounding            text NOT NULL,
    granularity         text NOT NULL,
    -- SHA-256 of the charged content, to tell whether a new computation differs.
    fingerprint         text NOT NULL,
    UNIQUE (project_id, period, currency, revision),
    CHECK ((status = 'draft') = (invoice_number IS NULL)),
    CHECK (total = subtotal + tax)
);

CREATE TABLE IF NOT EXISTS invoice_lines (
    invoice_id          bigint NOT NULL REFERENCES invoices (invoice_id) ON DELETE CASCADE,
    line_no             int NOT NULL,
    instance_id         text NOT NULL,
    instance_name       text,
    type_name           text NOT NULL,
    category            text NOT NULL,
    image               text NOT NULL,
    rate_effective_from timestamptz NOT NULL,
    rate_effective_to   timestamptz,
    hourly_rate         numeric(20, 6) NOT NULL,
    metered_seconds     numeric NOT NULL,  -- exact, to the microsecond
    billable_seconds    numeric NOT NULL,  -- metered, rounded up to the granularity once
    amount              numeric NOT NULL,  -- minor units of the invoice currency
    PRIMARY KEY (invoice_id, line_no)
);
