DROP TABLE logout_outbox;
DROP TABLE habilitations;
DROP TABLE oidc_tokens;
DROP TABLE oidc_grants;
DROP TABLE oidc_keys;
DROP TABLE oidc_clients;
