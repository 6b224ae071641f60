-- The console's audit journal searches by time range (issue 13), newest
-- first: walking this index backwards from the range's end reads a page
-- without sorting the range (a month is ~800,000 events at a hospital
-- group's pace); (occurred_at, seq) is also the pages' keyset.
CREATE INDEX audit_events_occurred_at ON audit_events (occurred_at, seq);
-- A person's (or a client's) trail, newest first, the same way: without
-- it a planner may walk the whole journal by time looking for one target.
DROP INDEX audit_events_target;
CREATE INDEX audit_events_target ON audit_events (target, occurred_at, seq);
