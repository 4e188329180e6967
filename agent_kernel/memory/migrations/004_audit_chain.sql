-- The audit chain: each event carries the hash of the one before it, so a changed, removed or
-- reordered event is found by %agent audit --verify. Events recorded before this version stay
-- unchained (they come first, and verification says how many there are).
ALTER TABLE events ADD COLUMN prev_hash VARCHAR;
ALTER TABLE events ADD COLUMN hash VARCHAR;
