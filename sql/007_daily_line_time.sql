-- Each invoice line's metered time per local day of its window (microseconds, in day
-- order), so that daily exports (FOCUS) split the stored amounts exactly, from stored
-- results alone.
ALTER TABLE invoice_lines ADD COLUMN IF NOT EXISTS daily_metered_us bigint[];
