-- Forgetting a memory keeps its row (the history) and takes it out of recall.
ALTER TABLE memories ADD COLUMN forgotten TIMESTAMPTZ;
