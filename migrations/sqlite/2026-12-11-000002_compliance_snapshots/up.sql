-- The compliance dashboard's history (issue 13): once a day, the figure of
-- each indicator (a share: numerator and denominator; a count or a median
-- delay: numerator alone), from which its 12-month trend is drawn. One row
-- per day and indicator: two nodes taking the day's snapshot keep one.
CREATE TABLE compliance_snapshots (
    taken_on TEXT NOT NULL,
    indicator TEXT NOT NULL,
    numerator BIGINT NOT NULL,
    denominator BIGINT,
    taken_at BIGINT NOT NULL,
    PRIMARY KEY (taken_on, indicator)
);
