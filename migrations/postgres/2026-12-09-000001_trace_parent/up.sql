-- The trace of the request that starts a flow (issue 14), as a W3C
-- traceparent, so that the later requests of the same flow carry it on and
-- each flow is one trace: the authorisation request that issued a code
-- (the token exchange continues it), the start of a badge login (the
-- agent's steps and the PIN continue it). Only when traces are sent and the
-- flow was sampled; never read for anything else.
ALTER TABLE oidc_grants ADD COLUMN trace_parent TEXT;
ALTER TABLE badge_transactions ADD COLUMN trace_parent TEXT;
