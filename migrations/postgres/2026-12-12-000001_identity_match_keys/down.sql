DROP INDEX identities_match_used_key;
DROP INDEX identities_match_birth_key;
ALTER TABLE identities DROP COLUMN match_used_key;
ALTER TABLE identities DROP COLUMN match_birth_key;
