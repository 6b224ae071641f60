ALTER TABLE habilitations DROP COLUMN valid_until;
ALTER TABLE habilitations DROP COLUMN valid_from;
