DROP TABLE identity_suspensions;
