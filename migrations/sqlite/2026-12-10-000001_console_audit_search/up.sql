-- The console's audit journal searches by time range (issue 13), newest
-- first: walking this index backwards from the range's end reads a page
-- without sorting the range (a month is ~800,000 events at a hospital
-- group's pace); (occurred_at, seq) is also the pages' keyset.
CREATE INDEX audit_events_occurred_at ON audit_events (occurred_at, seq);
