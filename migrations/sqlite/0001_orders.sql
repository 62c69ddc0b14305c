-- Orders, one row each. Times are Unix microseconds (UTC); `version` guards every transition.
CREATE TABLE orders (
    order_id          TEXT    PRIMARY KEY NOT NULL,
    event_id          TEXT    NOT NULL,
    user_id           TEXT    NOT NULL,
    state             TEXT    NOT NULL CHECK (state IN ('created', 'submitted', 'queued', 'preparing', 'completed', 'cancelled')),
    order_number      INTEGER,
    drink             TEXT,            -- JSON {name, modifiers, icon}
    barista_user_id   TEXT,
    cancel_reason     TEXT,
    start_token       TEXT,            -- task token #1 (secret; never leaves the service)
    completion_token  TEXT,            -- task token #2 (secret)
    execution_arn     TEXT,
    workflow_finished_at INTEGER,
    version           INTEGER NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
) STRICT;

-- Barista lists: one event, one state, by time (both directions).
CREATE INDEX orders_by_event_state ON orders (event_id, state, created_at, order_id);
-- Customer lists: one user, newest first.
CREATE INDEX orders_by_user ON orders (user_id, created_at, order_id);

-- Envelope ids of ingested events, for at-least-once delivery (kept >= 24 h).
CREATE TABLE ingested_events (
    envelope_id  TEXT    PRIMARY KEY NOT NULL,
    order_id     TEXT    NOT NULL,
    received_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX ingested_events_by_time ON ingested_events (received_at);

-- Workflow callbacks written in the same transaction as the transition that owes them.
-- `token_digest` is unique: a task token is used at most once.
CREATE TABLE callbacks (
    callback_id      INTEGER PRIMARY KEY,
    order_id         TEXT    NOT NULL,
    token            TEXT    NOT NULL,
    token_digest     BLOB    NOT NULL UNIQUE,
    action           TEXT    NOT NULL,   -- JSON CallbackAction
    expires_order    INTEGER NOT NULL,   -- 1: a final rejection expires the order
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'rejected')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,   -- also the lease: nobody else tries it before this time
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX callbacks_due ON callbacks (next_attempt_at) WHERE status = 'pending';

-- Menus per coffee event; absent means the default menu.
CREATE TABLE menus (
    event_id    TEXT    PRIMARY KEY NOT NULL,
    menu        TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
