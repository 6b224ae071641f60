-- Back-channel logouts delivered once by a cluster (issue 15): a node
-- claims a notification (`claimed_by`, a random token of that attempt)
-- until `claimed_until` (unix seconds) before sending it, with a
-- conditional UPDATE; another node skips it meanwhile, and takes it over
-- only once the claim has run out (the node died mid-attempt). The claim
-- is cleared with the attempt's outcome.
ALTER TABLE logout_outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE logout_outbox ADD COLUMN claimed_until BIGINT;
