-- Badge PIN guard (issue 16): a PIN check in flight holds a lease on the
-- holder's PIN row (`checking_until`, unix seconds, owned by the random
-- `checking_by` of that check), so that one person's PIN is checked once
-- at a time whatever the number of transactions or nodes, and only its
-- owner settles it; and a PIN set by someone other than its holder is
-- recorded (`replaced_by`, `replaced_at`) until the holder's next login
-- tells them.
ALTER TABLE badge_pins ADD COLUMN checking_until BIGINT;
ALTER TABLE badge_pins ADD COLUMN checking_by TEXT;
ALTER TABLE badge_pins ADD COLUMN replaced_by TEXT;
ALTER TABLE badge_pins ADD COLUMN replaced_at BIGINT;
