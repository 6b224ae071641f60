ALTER TABLE badge_pins DROP COLUMN replaced_at;
ALTER TABLE badge_pins DROP COLUMN replaced_by;
ALTER TABLE badge_pins DROP COLUMN checking_by;
ALTER TABLE badge_pins DROP COLUMN checking_until;
