DROP TABLE sync_leases;
DROP TABLE identity_roles;
DROP TABLE login_failures;
DROP TABLE webauthn_ceremonies;
DROP TABLE enrolment_links;
DROP TABLE authenticators;
DROP TABLE sso_sessions;
