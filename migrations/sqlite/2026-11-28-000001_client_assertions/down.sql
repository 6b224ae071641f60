DROP TABLE oidc_used_assertions;
