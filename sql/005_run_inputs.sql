-- What a run read besides the state changes, so that a recompute can say why an invoice
-- changed: the billable-state table in force, and a correcting revision's links.
ALTER TABLE billing_runs ADD COLUMN IF NOT EXISTS billable_states jsonb;
CREATE INDEX IF NOT EXISTS invoices_corrects ON invoices (corrects_invoice_id);
