-- The yearly review of habilitations (issue 13; HospiConnect asks for it):
-- a campaign takes a snapshot of the habilitations of one application or
-- of one service's people; reviewers keep or remove each one (a removal
-- withdraws it at once). A habilitation remembers its last confirmation.
ALTER TABLE habilitations ADD COLUMN reviewed_at BIGINT;

CREATE TABLE review_campaigns (
    id TEXT PRIMARY KEY NOT NULL,
    title TEXT NOT NULL,
    client_id TEXT,
    service TEXT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    closed_at BIGINT,
    closed_by TEXT
);

CREATE TABLE review_items (
    campaign_id TEXT NOT NULL,
    oid TEXT NOT NULL,
    client_id TEXT NOT NULL,
    role TEXT NOT NULL,
    decision TEXT,
    decided_by TEXT,
    decided_at BIGINT,
    PRIMARY KEY (campaign_id, oid, client_id, role)
);
