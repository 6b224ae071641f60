DROP TABLE compliance_snapshots;
