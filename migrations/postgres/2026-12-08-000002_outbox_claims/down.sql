ALTER TABLE logout_outbox DROP COLUMN claimed_until;
ALTER TABLE logout_outbox DROP COLUMN claimed_by;
