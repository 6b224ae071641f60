DROP INDEX sso_sessions_workstation;
ALTER TABLE sso_sessions DROP COLUMN workstation_id;
DROP TABLE badge_transactions;
DROP TABLE workstations;
