DROP TABLE review_items;
DROP TABLE review_campaigns;
ALTER TABLE habilitations DROP COLUMN reviewed_at;
