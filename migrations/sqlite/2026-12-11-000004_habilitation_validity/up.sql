-- Habilitations with validity dates (issue 13): a role in an application
-- from a first day and until a last day (both included, YYYY-MM-DD, the
-- hospital's local dates; either may be open). Outside them the role is
-- not sent to the application.
ALTER TABLE habilitations ADD COLUMN valid_from TEXT;
ALTER TABLE habilitations ADD COLUMN valid_until TEXT;
