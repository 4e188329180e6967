-- How far each kernel's journal (.agent/journal/NAME.jsonl) has been ingested: updated in the
-- same transaction as the rows, so a journal ingested twice never adds a row twice.
CREATE TABLE journal_progress (
    journal VARCHAR PRIMARY KEY,
    last_n BIGINT NOT NULL,
    updated TIMESTAMPTZ NOT NULL
);
