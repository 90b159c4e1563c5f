-- bmbill 012: real customers' prices (pricing.md): contract discounts, monthly caps and
-- credits.
--
-- 1. Three source tables, written by finance or the sales system and only read by bmbill.
--    Their rules (percent in (0, 100], exactly one holder, caps > 0, amounts in whole
--    minor units ...) are checked by bmbill, which reports a broken row as an error
--    anomaly naming it, rather than by constraints here: a row another system wrote
--    anyway must be seen, not lost in a failed load.
-- 2. Invoice lines carry the discount that priced them, their list amount and their
--    capped (metered, not charged) time; invoices their list subtotal, discount and the
--    credits they took. Rows written before this migration had none of them: their list
--    amounts are their amounts.
-- 3. credit_applications: what each invoice took (or, for a draft, would take) from
--    which credit. credit_balances: per credit what issued invoices in force took and
--    what is left.
-- 4. The seal of an issued invoice (migration 011) also covers these columns and its
--    credit applications. An invoice with none of them seals exactly as before, so the
--    seals already made still match.

CREATE TABLE IF NOT EXISTS discounts (
    discount_id        text PRIMARY KEY,
    project_id         text,
    billing_account_id text,
    type_name          text,
    category           text,
    percent            numeric(7, 4) NOT NULL,
    effective_from     timestamptz NOT NULL,
    effective_to       timestamptz,  -- exclusive; NULL = open
    description        text
);

CREATE TABLE IF NOT EXISTS monthly_caps (
    type_name      text NOT NULL,
    cap_hours      numeric(10, 4) NOT NULL,
    effective_from timestamptz NOT NULL,
    effective_to   timestamptz  -- exclusive; NULL = open
);

CREATE TABLE IF NOT EXISTS credits (
    credit_id          text PRIMARY KEY,
    billing_account_id text NOT NULL,
    project_id         text,  -- NULL: any project of the account
    currency           char(3) NOT NULL,
    amount             numeric(20, 6) NOT NULL,
    valid_from         timestamptz NOT NULL,
    expires_at         timestamptz,  -- exclusive; NULL = never
    reason             text
);

-- What each run applied: discounts in force, caps, credits with their balances, and a
-- fingerprint of those rows (a recompute compares it to name "discount changed" or "cap changed").
ALTER TABLE billing_runs ADD COLUMN IF NOT EXISTS pricing jsonb;

ALTER TABLE invoice_lines ADD COLUMN IF NOT EXISTS discount_id text;
ALTER TABLE invoice_lines ADD COLUMN IF NOT EXISTS discount_percent numeric(7, 4);
ALTER TABLE invoice_lines ADD COLUMN IF NOT EXISTS list_amount numeric;
-- Exact capped time in seconds (to the microsecond), and per day of the window in
-- microseconds beside daily_metered_us (which holds the charged time).
ALTER TABLE invoice_lines ADD COLUMN IF NOT EXISTS capped_seconds numeric NOT NULL DEFAULT 0;
ALTER TABLE invoice_lines ADD COLUMN IF NOT EXISTS daily_capped_us bigint[];
UPDATE invoice_lines SET list_amount = amount WHERE list_amount IS NULL;
ALTER TABLE invoice_lines ALTER COLUMN list_amount SET NOT NULL;

ALTER TABLE invoices ADD COLUMN IF NOT EXISTS list_subtotal numeric;
ALTER TABLE invoices ADD COLUMN IF NOT EXISTS discount numeric NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN IF NOT EXISTS credits_applied numeric NOT NULL DEFAULT 0;
UPDATE invoices SET list_subtotal = subtotal WHERE list_subtotal IS NULL;
ALTER TABLE invoices ALTER COLUMN list_subtotal SET NOT NULL;

-- total = subtotal - credits_applied + tax (credits are taken before tax).
DO $$
DECLARE c record;
BEGIN
    FOR c IN SELECT conname FROM pg_constraint
             WHERE conrelid = 'invoices'::regclass AND contype = 'c'
               AND pg_get_constraintdef(oid) LIKE '%total = (subtotal + tax)%'
    LOOP
        EXECUTE format('ALTER TABLE invoices DROP CONSTRAINT %I', c.conname);
    END LOOP;
END
$$;
ALTER TABLE invoices DROP CONSTRAINT IF EXISTS invoices_pricing_totals;
ALTER TABLE invoices ADD CONSTRAINT invoices_pricing_totals CHECK (
    total = subtotal - credits_applied + tax
    AND discount = list_subtotal - subtotal
    AND credits_applied >= 0 AND credits_applied <= greatest(subtotal, 0));

CREATE TABLE IF NOT EXISTS credit_applications (
    invoice_id bigint NOT NULL REFERENCES invoices (invoice_id) ON DELETE CASCADE,
    credit_id  text NOT NULL,  -- no foreign key: credits is finance's table, bmbill only reads it
    amount     numeric NOT NULL CHECK (amount > 0),  -- major units of the invoice's currency
    PRIMARY KEY (invoice_id, credit_id)
);
CREATE INDEX IF NOT EXISTS credit_applications_credit ON credit_applications (credit_id);

-- What issued invoices in force (not drafts, not superseded revisions) took from each credit.
CREATE OR REPLACE VIEW credit_balances AS
SELECT c.credit_id, c.billing_account_id, c.project_id, c.currency, c.amount, c.valid_from, c.expires_at, c.reason,
       coalesce(a.applied, 0) AS applied, c.amount - coalesce(a.applied, 0) AS remaining
FROM credits c
LEFT JOIN (SELECT ca.credit_id, sum(ca.amount) AS applied
           FROM credit_applications ca JOIN invoices i USING (invoice_id)
           WHERE i.status = 'issued'
           GROUP BY ca.credit_id) a USING (credit_id);

-- A view's * is expanded when it is made: made again, it has the new columns.
DROP VIEW IF EXISTS current_invoices;
CREATE VIEW current_invoices AS
SELECT DISTINCT ON (project_id, period, currency) *
FROM invoices
WHERE status <> 'superseded'
ORDER BY project_id, period, currency, revision DESC;

CREATE OR REPLACE FUNCTION bmbill_invoice_seal(id bigint) RETURNS text
    LANGUAGE sql STABLE
AS $$
    SELECT encode(sha256(convert_to(concat_ws('|',
               i.invoice_id, i.project_id, i.period, i.revision, coalesce(i.invoice_number, '-'), i.currency,
               i.subtotal, i.tax, i.total, coalesce(i.difference_subtotal::text, '-'), coalesce(i.difference_tax::text, '-'),
               coalesce(i.difference::text, '-'), coalesce(i.corrects_invoice_id::text, '-'), i.run_id, i.project_name,
               coalesce(i.billing_account_id, '-'), i.vat_rate, i.rounding, i.granularity, i.fingerprint,
               (SELECT coalesce(string_agg(concat_ws(',', l.line_no, l.instance_id, l.type_name, l.category, l.hourly_rate,
                                                     extract(epoch FROM l.rate_effective_from), l.metered_seconds,
                                                     l.billable_seconds, l.amount), ';' ORDER BY l.line_no), '')
                FROM invoice_lines l WHERE l.invoice_id = i.invoice_id),
               -- Pricing (012): NULL, so left out, when the invoice has none of it.
               nullif(concat_ws('#',
                   CASE WHEN i.list_subtotal IS DISTINCT FROM i.subtotal OR i.discount <> 0 OR i.credits_applied <> 0
                        THEN concat_ws(',', 'invoice', i.list_subtotal, i.discount, i.credits_applied) END,
                   (SELECT 'lines:' || string_agg(concat_ws(',', l.line_no, coalesce(l.discount_id, '-'),
                                                            coalesce(l.discount_percent::text, '-'), l.list_amount,
                                                            l.capped_seconds), ';' ORDER BY l.line_no)
                    FROM invoice_lines l
                    WHERE l.invoice_id = i.invoice_id
                      AND (l.discount_id IS NOT NULL OR l.discount_percent IS NOT NULL
                           OR l.list_amount IS DISTINCT FROM l.amount OR l.capped_seconds <> 0)),
                   (SELECT 'credits:' || string_agg(concat_ws(',', a.credit_id, a.amount), ';' ORDER BY a.credit_id)
                    FROM credit_applications a WHERE a.invoice_id = i.invoice_id)), '')), 'UTF8')), 'hex')
    FROM invoices i WHERE i.invoice_id = id
$$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bmbill_reader') THEN
        GRANT SELECT ON discounts, monthly_caps, credits TO bmbill_reader;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bmbill_writer') THEN
        -- Credits taken are kept like invoice lines: added, never changed; a draft's go with it.
        GRANT SELECT, INSERT ON credit_applications TO bmbill_writer;
        GRANT SELECT ON current_invoices, credit_balances TO bmbill_writer;
    END IF;
END
$$;
