-- Back to the database's collation (see up.sql).
ALTER TABLE accounts
    ALTER COLUMN login TYPE TEXT COLLATE "default",
    ALTER COLUMN oid TYPE TEXT COLLATE "default";
ALTER TABLE api_tokens
    ALTER COLUMN id TYPE TEXT COLLATE "default",
    ALTER COLUMN token_hash TYPE TEXT COLLATE "default";
ALTER TABLE assignments
    ALTER COLUMN id TYPE TEXT COLLATE "default",
    ALTER COLUMN oid TYPE TEXT COLLATE "default";
ALTER TABLE audit_events
    ALTER COLUMN action TYPE TEXT COLLATE "default",
    ALTER COLUMN target TYPE TEXT COLLATE "default";
ALTER TABLE audit_verifications
    ALTER COLUMN id TYPE TEXT COLLATE "default";
ALTER TABLE authenticators
    ALTER COLUMN credential_id TYPE TEXT COLLATE "default",
    ALTER COLUMN id TYPE TEXT COLLATE "default",
    ALTER COLUMN oid TYPE TEXT COLLATE "default";
ALTER TABLE badge_pins
    ALTER COLUMN oid TYPE TEXT COLLATE "default";
ALTER TABLE badge_transactions
    ALTER COLUMN id TYPE TEXT COLLATE "default";
ALTER TABLE badges
    ALTER COLUMN id TYPE TEXT COLLATE "default",
    ALTER COLUMN oid TYPE TEXT COLLATE "default",
    ALTER COLUMN reference_hash TYPE TEXT COLLATE "default";
ALTER TABLE compliance_snapshots
    ALTER COLUMN indicator TYPE TEXT COLLATE "default",
    ALTER COLUMN taken_on TYPE TEXT COLLATE "default";
ALTER TABLE enrolment_links
    ALTER COLUMN oid TYPE TEXT COLLATE "default",
    ALTER COLUMN token_hash TYPE TEXT COLLATE "default";
ALTER TABLE habilitations
    ALTER COLUMN client_id TYPE TEXT COLLATE "default",
    ALTER COLUMN oid TYPE TEXT COLLATE "default",
    ALTER COLUMN role TYPE TEXT COLLATE "default";
ALTER TABLE identities
    ALTER COLUMN birth_date TYPE TEXT COLLATE "default",
    ALTER COLUMN oid TYPE TEXT COLLATE "default",
    ALTER COLUMN rpps TYPE TEXT COLLATE "default",
    ALTER COLUMN status TYPE TEXT COLLATE "default";
ALTER TABLE identity_match_keys
    ALTER COLUMN match_key TYPE TEXT COLLATE "default",
    ALTER COLUMN oid TYPE TEXT COLLATE "default";
ALTER TABLE identity_roles
    ALTER COLUMN oid TYPE TEXT COLLATE "default",
    ALTER COLUMN role TYPE TEXT COLLATE "default";
ALTER TABLE identity_suspensions
    ALTER COLUMN id TYPE TEXT COLLATE "default",
    ALTER COLUMN oid TYPE TEXT COLLATE "default";
ALTER TABLE lifecycle_events
    ALTER COLUMN id TYPE TEXT COLLATE "default",
    ALTER COLUMN oid TYPE TEXT COLLATE "default";
ALTER TABLE login_failures
    ALTER COLUMN key TYPE TEXT COLLATE "default";
ALTER TABLE logout_outbox
    ALTER COLUMN id TYPE TEXT COLLATE "default";
ALTER TABLE manual_terms
    ALTER COLUMN external_id TYPE TEXT COLLATE "default";
ALTER TABLE oidc_clients
    ALTER COLUMN client_id TYPE TEXT COLLATE "default";
ALTER TABLE oidc_grants
    ALTER COLUMN code_hash TYPE TEXT COLLATE "default",
    ALTER COLUMN id TYPE TEXT COLLATE "default",
    ALTER COLUMN session_id TYPE TEXT COLLATE "default";
ALTER TABLE oidc_keys
    ALTER COLUMN kid TYPE TEXT COLLATE "default";
ALTER TABLE oidc_tokens
    ALTER COLUMN grant_id TYPE TEXT COLLATE "default",
    ALTER COLUMN token_hash TYPE TEXT COLLATE "default";
ALTER TABLE oidc_used_assertions
    ALTER COLUMN client_id TYPE TEXT COLLATE "default",
    ALTER COLUMN jti TYPE TEXT COLLATE "default";
ALTER TABLE psc_links
    ALTER COLUMN oid TYPE TEXT COLLATE "default";
ALTER TABLE psc_logins
    ALTER COLUMN session_id TYPE TEXT COLLATE "default";
ALTER TABLE psc_requests
    ALTER COLUMN state_hash TYPE TEXT COLLATE "default";
ALTER TABLE reconciliation_cases
    ALTER COLUMN external_id TYPE TEXT COLLATE "default",
    ALTER COLUMN id TYPE TEXT COLLATE "default",
    ALTER COLUMN source TYPE TEXT COLLATE "default",
    ALTER COLUMN status TYPE TEXT COLLATE "default";
ALTER TABLE review_campaigns
    ALTER COLUMN id TYPE TEXT COLLATE "default";
ALTER TABLE review_items
    ALTER COLUMN campaign_id TYPE TEXT COLLATE "default",
    ALTER COLUMN client_id TYPE TEXT COLLATE "default",
    ALTER COLUMN oid TYPE TEXT COLLATE "default",
    ALTER COLUMN role TYPE TEXT COLLATE "default";
ALTER TABLE source_records
    ALTER COLUMN external_id TYPE TEXT COLLATE "default",
    ALTER COLUMN join_key TYPE TEXT COLLATE "default",
    ALTER COLUMN oid TYPE TEXT COLLATE "default",
    ALTER COLUMN source TYPE TEXT COLLATE "default";
ALTER TABLE sso_sessions
    ALTER COLUMN id TYPE TEXT COLLATE "default",
    ALTER COLUMN oid TYPE TEXT COLLATE "default",
    ALTER COLUMN token_hash TYPE TEXT COLLATE "default",
    ALTER COLUMN workstation_id TYPE TEXT COLLATE "default";
ALTER TABLE sync_cursors
    ALTER COLUMN source TYPE TEXT COLLATE "default";
ALTER TABLE sync_leases
    ALTER COLUMN source TYPE TEXT COLLATE "default";
ALTER TABLE sync_runs
    ALTER COLUMN id TYPE TEXT COLLATE "default";
ALTER TABLE webauthn_ceremonies
    ALTER COLUMN id TYPE TEXT COLLATE "default";
ALTER TABLE workstations
    ALTER COLUMN id TYPE TEXT COLLATE "default";
