-- Ingest records and change-log entries are pruned without an index by time (see
-- src/outbound/sqlite/prune.rs): two b-trees fewer to write with every ingested event.
DROP INDEX ingested_events_by_time;
DROP INDEX order_changes_by_time;
