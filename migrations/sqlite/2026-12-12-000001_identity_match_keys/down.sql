DROP TABLE identity_match_keys;
