-- The invoice in force for each project, period and currency: its latest revision
-- that has not been superseded. For a correcting revision, total is the full corrected
-- amount and difference what the correction adds or credits.
CREATE OR REPLACE VIEW current_invoices AS
SELECT DISTINCT ON (project_id, period, currency) *
FROM invoices
WHERE status <> 'superseded'
ORDER BY project_id, period, currency, revision DESC;
