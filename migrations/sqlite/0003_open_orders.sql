-- The open orders, of which the store keeps those in the barista's hands in memory: loaded at start-up
-- through this partial index, however many completed and cancelled orders there are.
CREATE INDEX orders_open ON orders (state) WHERE state NOT IN ('completed', 'cancelled');
