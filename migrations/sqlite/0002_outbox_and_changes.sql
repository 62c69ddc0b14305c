-- Notices (OrderManager.* events) to publish, written in the same transaction as the
-- transition that owes them; the dispatcher publishes them.
CREATE TABLE notices (
    notice_id        INTEGER PRIMARY KEY,
    order_id         TEXT    NOT NULL,
    detail_type      TEXT    NOT NULL,
    detail           TEXT    NOT NULL,   -- JSON; never holds a task token
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'published', 'dropped')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,   -- also the lease
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX notices_due ON notices (next_attempt_at) WHERE status = 'pending';

-- Every applied change of an order, numbered: the live stream reads from here, so a client
-- that resumes with Last-Event-ID misses nothing still in the window.
CREATE TABLE order_changes (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id    TEXT    NOT NULL,
    event_id    TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    snapshot    TEXT    NOT NULL,        -- JSON OrderSnapshot; never holds a task token
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX order_changes_by_event ON order_changes (event_id, seq);
CREATE INDEX order_changes_by_user ON order_changes (user_id, seq);
CREATE INDEX order_changes_by_time ON order_changes (created_at);
CREATE INDEX callbacks_finished ON callbacks (updated_at) WHERE status <> 'pending';
-- An attempt that may have reached the workflow (a time-out, a 5xx, or one cut off by a crash
-- before its outcome was recorded): a later "token is dead" answer then expires nothing.
ALTER TABLE callbacks ADD COLUMN outcome_unknown INTEGER NOT NULL DEFAULT 0;
-- Set while an attempt is under way (handed out, outcome not yet recorded).
ALTER TABLE callbacks ADD COLUMN in_flight INTEGER NOT NULL DEFAULT 0;
