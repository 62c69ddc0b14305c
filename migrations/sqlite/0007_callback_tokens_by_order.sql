-- A task token is used at most once, kept by a unique index on (order id, token digest)
-- rather than on the digest alone. The rule is the same: a token belongs to one order (it
-- came in that order's event, and only that order's changes call back with it). Keyed by
-- the order first, a new callback's entry goes beside those of the orders of the same
-- moments, when order ids are time-ordered, instead of on a page of its own (a digest is
-- random): that was 17 % of the pages each commit wrote in the benchmark's submit step.
--
-- SQLite cannot drop a table's UNIQUE constraint: the table is made again, as its own
-- documentation describes (finished callbacks are pruned after the retention window, so it
-- holds a couple of days' worth).
CREATE TABLE callbacks_by_order (
    callback_id      INTEGER PRIMARY KEY,
    order_id         TEXT    NOT NULL,
    token            TEXT    NOT NULL,
    token_digest     BLOB    NOT NULL,
    action           TEXT    NOT NULL,   -- JSON CallbackAction
    expires_order    INTEGER NOT NULL,   -- 1: a final rejection expires the order
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'rejected')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,   -- also the lease: nobody else tries it before this time
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    outcome_unknown  INTEGER NOT NULL DEFAULT 0,
    in_flight        INTEGER NOT NULL DEFAULT 0,
    UNIQUE (order_id, token_digest)
) STRICT;
INSERT INTO callbacks_by_order
    (callback_id, order_id, token, token_digest, action, expires_order, status, attempts,
     next_attempt_at, last_error, created_at, updated_at, outcome_unknown, in_flight)
SELECT callback_id, order_id, token, token_digest, action, expires_order, status, attempts,
       next_attempt_at, last_error, created_at, updated_at, outcome_unknown, in_flight
FROM callbacks;
DROP TABLE callbacks;
ALTER TABLE callbacks_by_order RENAME TO callbacks;
CREATE INDEX callbacks_due ON callbacks (next_attempt_at) WHERE status = 'pending';
CREATE INDEX callbacks_finished ON callbacks (updated_at) WHERE status <> 'pending';
