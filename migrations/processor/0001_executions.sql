-- The embedded order processor's own state (a separate file from the order store: it plays
-- the part of Step Functions and EventBridge). Times are Unix microseconds.

-- One execution per order, like a Step Functions execution named by the order id.
CREATE TABLE executions (
    order_id      TEXT    PRIMARY KEY NOT NULL,
    user_id       TEXT    NOT NULL,
    event_id      TEXT    NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN
                  ('waiting_submission', 'waiting_completion', 'succeeded', 'failed', 'timed_out')),
    token         TEXT,             -- the token of the current wait; NULL when none
    deadline      INTEGER,          -- when the current wait times out
    order_number  INTEGER,
    submission    TEXT,             -- the output of the first wait (JSON)
    completion    TEXT,             -- the output of the second wait, or the failure (JSON)
    started_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE UNIQUE INDEX executions_by_token ON executions (token) WHERE token IS NOT NULL;
CREATE INDEX executions_by_deadline ON executions (deadline) WHERE token IS NOT NULL;

-- The last order number given out per coffee event.
CREATE TABLE order_numbers (
    event_id  TEXT    PRIMARY KEY NOT NULL,
    last      INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- The events the processor puts on its "bus", delivered to the ingest logic in order and
-- at least once (like an API destination).
CREATE TABLE emissions (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    envelope_id      TEXT    NOT NULL,
    order_id         TEXT    NOT NULL,
    event            TEXT    NOT NULL,   -- JSON Emission
    delivered        INTEGER NOT NULL DEFAULT 0,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    created_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX emissions_pending ON emissions (seq) WHERE delivered = 0;
