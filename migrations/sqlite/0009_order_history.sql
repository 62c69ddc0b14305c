-- Each order's story: one entry per change of the order (a JSON `HistoryEntry`: time, state,
-- who or what caused it), written with the change and kept as long as the order. Orders
-- bulk-loaded by an import have no entries until their next change.
CREATE TABLE order_history (
    order_id  TEXT    NOT NULL,
    version   INTEGER NOT NULL,
    entry     TEXT    NOT NULL,
    PRIMARY KEY (order_id, version)
) STRICT, WITHOUT ROWID;
