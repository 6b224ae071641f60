DROP TABLE badge_pins;
DROP TABLE badges;
