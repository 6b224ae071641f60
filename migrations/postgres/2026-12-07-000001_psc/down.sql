ALTER TABLE sso_sessions DROP COLUMN method;
ALTER TABLE oidc_clients DROP COLUMN psc;
ALTER TABLE identities DROP COLUMN rpps_verified_at;
DROP TABLE psc_logins;
DROP TABLE psc_requests;
DROP TABLE psc_links;
