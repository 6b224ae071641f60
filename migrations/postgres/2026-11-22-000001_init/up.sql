-- Clavis initial schema (PostgreSQL). Keep in step with ../../sqlite: a test
-- compares the tables and columns of both backends.
-- Timestamps are BIGINT unix seconds (audit: microseconds); dates are TEXT
-- 'YYYY-MM-DD'; lists are TEXT holding a JSON array.

CREATE TABLE identities (
    oid TEXT PRIMARY KEY NOT NULL,
    status TEXT NOT NULL,
    birth_family_name TEXT NOT NULL,
    used_family_name TEXT,
    birth_given_names TEXT NOT NULL,
    birth_date TEXT,
    birth_place TEXT,
    birth_country TEXT,
    sex TEXT,
    email TEXT,
    phone TEXT,
    rpps TEXT,
    adeli TEXT,
    contract_type TEXT,
    arrival_date TEXT,
    departure_date TEXT,
    professions TEXT NOT NULL,
    search_text TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    status_changed_at BIGINT NOT NULL
);
CREATE INDEX identities_birth_date ON identities (birth_date);
CREATE INDEX identities_rpps ON identities (rpps);
CREATE INDEX identities_status ON identities (status);

CREATE TABLE source_records (
    source TEXT NOT NULL,
    external_id TEXT NOT NULL,
    oid TEXT,
    entry_ref TEXT NOT NULL,
    join_key TEXT,
    attributes TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    present BOOLEAN NOT NULL,
    missing_runs INTEGER NOT NULL,
    first_seen_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    last_run_id TEXT NOT NULL,
    PRIMARY KEY (source, external_id)
);
CREATE INDEX source_records_oid ON source_records (oid);
CREATE INDEX source_records_join_key ON source_records (join_key);

CREATE TABLE accounts (
    login TEXT PRIMARY KEY NOT NULL,
    oid TEXT NOT NULL,
    source TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    disabled_reason TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX accounts_oid ON accounts (oid);

CREATE TABLE assignments (
    id TEXT PRIMARY KEY NOT NULL,
    oid TEXT NOT NULL,
    service TEXT,
    uf TEXT,
    finess TEXT,
    start_date TEXT,
    end_date TEXT,
    is_current BOOLEAN NOT NULL,
    recorded_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE INDEX assignments_oid ON assignments (oid);

CREATE TABLE reconciliation_cases (
    id TEXT PRIMARY KEY NOT NULL,
    source TEXT NOT NULL,
    external_id TEXT NOT NULL,
    entry_ref TEXT NOT NULL,
    reason TEXT NOT NULL,
    candidates TEXT NOT NULL,
    status TEXT NOT NULL,
    resolution TEXT,
    resolved_by TEXT,
    opened_at BIGINT NOT NULL,
    resolved_at BIGINT,
    sync_run_id TEXT
);
CREATE INDEX reconciliation_cases_record ON reconciliation_cases (source, external_id);
CREATE INDEX reconciliation_cases_status ON reconciliation_cases (status);

CREATE TABLE sync_runs (
    id TEXT PRIMARY KEY NOT NULL,
    source TEXT NOT NULL,
    mode TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    seen INTEGER NOT NULL,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    unchanged INTEGER NOT NULL,
    departed INTEGER NOT NULL,
    cases_opened INTEGER NOT NULL,
    rejected INTEGER NOT NULL,
    unmatched INTEGER NOT NULL,
    rejections TEXT NOT NULL,
    error TEXT
);
CREATE INDEX sync_runs_started ON sync_runs (started_at);

CREATE TABLE sync_cursors (
    source TEXT PRIMARY KEY NOT NULL,
    cursor_value TEXT,
    last_full_at BIGINT,
    full_runs INTEGER NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE lifecycle_events (
    id TEXT PRIMARY KEY NOT NULL,
    oid TEXT NOT NULL,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    sync_run_id TEXT
);
CREATE INDEX lifecycle_events_oid ON lifecycle_events (oid);

CREATE TABLE audit_events (
    seq BIGINT PRIMARY KEY NOT NULL,
    id TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    changes TEXT NOT NULL,
    source TEXT,
    sync_run_id TEXT,
    client_addr TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_events_target ON audit_events (target);

CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY NOT NULL,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- The audit log is append-only: the database itself refuses edits.
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
