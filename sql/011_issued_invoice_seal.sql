-- bmbill 011: issued invoices are never changed, and a change made anyway is noticed.
--
-- 1. The writer role may update only an invoice's status, and only from issued to
--    superseded (bmbill's one update, when a correction is issued), and delete only
--    drafts (row-level security on invoices; the table owner, who runs migrations, is not
--    bound by it). It may neither update nor delete an invoice line: a draft's lines go
--    with it (ON DELETE CASCADE). (invoice_lines has no row-level security: COPY, which
--    stores the lines, refuses it; a line added to an issued invoice breaks its seal.)
-- 2. Each issued invoice carries a seal: SHA-256 of its stored figures and lines, made by
--    PostgreSQL from the stored values when the invoice is issued (bmbill_seal_invoices,
--    which seals only invoices not yet sealed). Every run and export of a period checks
--    the seals of its issued and superseded invoices (bmbill_invoice_seal recomputes
--    one) and stops, naming the invoice, when one no longer matches: an owner or
--    superuser edit, a deleted or added line. Invoices issued before this migration are
--    sealed as they stand now.
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
                FROM invoice_lines l WHERE l.invoice_id = i.invoice_id)), 'UTF8')), 'hex')
    FROM invoices i WHERE i.invoice_id = id
$$;

ALTER TABLE invoices ADD COLUMN IF NOT EXISTS seal text;

-- Runs with its owner's rights, so that the writer role can seal an invoice it has just
-- issued but cannot change a seal once made.
CREATE OR REPLACE FUNCTION bmbill_seal_invoices(ids bigint[]) RETURNS integer
    LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT
AS $$
    WITH sealed AS (
        UPDATE invoices SET seal = bmbill_invoice_seal(invoice_id)
        WHERE invoice_id = ANY(ids) AND status = 'issued' AND seal IS NULL
        RETURNING 1)
    SELECT count(*)::int FROM sealed
$$;

UPDATE invoices SET seal = bmbill_invoice_seal(invoice_id) WHERE status <> 'draft' AND seal IS NULL;

ALTER TABLE invoices ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS bmbill_select ON invoices;
DROP POLICY IF EXISTS bmbill_insert ON invoices;
DROP POLICY IF EXISTS bmbill_supersede ON invoices;
DROP POLICY IF EXISTS bmbill_delete_drafts ON invoices;
CREATE POLICY bmbill_select ON invoices FOR SELECT USING (true);
CREATE POLICY bmbill_insert ON invoices FOR INSERT WITH CHECK (true);
CREATE POLICY bmbill_supersede ON invoices FOR UPDATE USING (status = 'issued') WITH CHECK (status = 'superseded');
CREATE POLICY bmbill_delete_drafts ON invoices FOR DELETE USING (status = 'draft');

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bmbill_writer') THEN
        REVOKE UPDATE ON invoices, invoice_lines FROM bmbill_writer;
        REVOKE DELETE ON invoice_lines FROM bmbill_writer;
        GRANT UPDATE (status) ON invoices TO bmbill_writer;
        REVOKE EXECUTE ON FUNCTION bmbill_seal_invoices(bigint[]) FROM PUBLIC;
        GRANT EXECUTE ON FUNCTION bmbill_seal_invoices(bigint[]), bmbill_invoice_seal(bigint) TO bmbill_writer;
    END IF;
END
$$;
