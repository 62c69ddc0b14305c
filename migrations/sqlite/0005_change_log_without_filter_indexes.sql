-- Live streams read the change log's latest entries from memory and older ones by number (see
-- src/outbound/sqlite/change_tail.rs): the indexes by coffee event and by customer are no
-- longer read, and were two more b-trees written with every change.
DROP INDEX order_changes_by_event;
DROP INDEX order_changes_by_user;
