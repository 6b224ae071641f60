-- Matching by keys (issue 15): a sync looked at every identity born on each
-- of a page's dates, thousands of rows a page in a large directory. Each
-- identity now has the keys matching looks it up by (birth date, first
-- given name, one family name, normalised: clavis_core::names::match_key),
-- written with the identity and rewritten only when those traits change.
-- A table of their own rather than columns of identities: the identities'
-- rows stay as narrow as the search scans them, and a sync that changes
-- other columns touches no key. `clavis migrate` gives the identities
-- already there their keys when it applies this migration, in the same
-- transaction (clavis_store::migrate). No foreign key, as for the other
-- tables a sync writes by the hundred (source_records, assignments): the
-- store writes a key with its identity, in one transaction, and a key
-- check per row doubled the cost of writing them on PostgreSQL.
CREATE TABLE identity_match_keys (
    match_key TEXT NOT NULL,
    oid TEXT NOT NULL,
    PRIMARY KEY (match_key, oid)
);
CREATE INDEX identity_match_keys_oid ON identity_match_keys (oid);
