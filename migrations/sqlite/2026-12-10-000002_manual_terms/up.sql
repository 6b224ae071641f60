-- The terms of a manual identity (issue 13): people outside HR (consultants,
-- vacataires not in the SI-RH, vendor staff) are created by the identity
-- office with a sponsor, a reason and a mandatory end date, the last day
-- they work (their departure date: the lifecycle ends them after it). Keyed
-- by the `manual` source record the identity office typed, so the terms
-- exist before an identity does (a likely match opens a case first).
CREATE TABLE manual_terms (
    external_id TEXT PRIMARY KEY NOT NULL,
    sponsor TEXT NOT NULL,
    reason TEXT NOT NULL,
    until_date TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
