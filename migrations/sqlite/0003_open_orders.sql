-- The open orders (hundreds at most), which the store keeps in memory: loaded at start-up
-- through this partial index, however many completed and cancelled orders there are.
CREATE INDEX orders_open ON orders (state) WHERE state NOT IN ('completed', 'cancelled');
