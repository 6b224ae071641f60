DROP TABLE manual_terms;
