-- What each coffee event served, per UTC day and drink, and the waits of recent completions:
-- written by the change that completes an order, so reading an event's stats reads a few
-- rows, never the orders. Waits are forgotten with the envelope ids (`prune`).
CREATE TABLE served (
    event_id  TEXT    NOT NULL,
    day       TEXT    NOT NULL,   -- YYYY-MM-DD, UTC
    drink     TEXT    NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (event_id, day, drink)
) STRICT, WITHOUT ROWID;

CREATE TABLE waits (
    event_id      TEXT    NOT NULL,
    completed_at  INTEGER NOT NULL,
    order_id      TEXT    NOT NULL,
    wait          INTEGER NOT NULL,   -- microseconds, from the submission to the completion
    PRIMARY KEY (event_id, completed_at, order_id)
) STRICT, WITHOUT ROWID;
