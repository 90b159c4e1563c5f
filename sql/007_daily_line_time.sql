-- Each invoice line's metered time per local day of its window (microseconds, in day
-- order), so that daily exports (FOCUS) split the stored amounts exactly, from stored
-- results alone.
ALTER TABLE invoice_lines ADD COLUMN IF NOT EXISTS daily_metered_us bigint[];

-- Each line's metered time per billed state ({"active": "2311050", "stopped": "172740"},
-- exact seconds as text), so an invoice can show why time was billed.
ALTER TABLE invoice_lines ADD COLUMN IF NOT EXISTS state_seconds jsonb;
