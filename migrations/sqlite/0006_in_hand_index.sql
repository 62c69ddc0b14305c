-- The open orders the store keeps in memory are the queued and preparing ones (see
-- src/outbound/sqlite/open_orders.rs): the partial index that loads them at start-up covers
-- just those, so a new order and a submission write no entry in it.
DROP INDEX orders_open;
CREATE INDEX orders_in_hand ON orders (state) WHERE state IN ('queued', 'preparing');
