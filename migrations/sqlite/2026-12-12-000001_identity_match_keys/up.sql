-- Matching by keys (issue 15): a sync looked at every identity born on each
-- of a page's dates, thousands of rows a page in a large directory. Each
-- identity now holds the keys matching looks it up by (birth date, first
-- given name, one family name, normalised: clavis_core::names::match_key),
-- written with the row. `clavis migrate` fills them for the identities
-- already there, in the same transaction (clavis_store::migrate).
ALTER TABLE identities ADD COLUMN match_birth_key TEXT;
ALTER TABLE identities ADD COLUMN match_used_key TEXT;
CREATE INDEX identities_match_birth_key ON identities (match_birth_key);
CREATE INDEX identities_match_used_key ON identities (match_used_key);
