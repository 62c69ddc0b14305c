-- Events that arrived before their order's start, kept until it arrives (and forgotten with
-- the envelope ids). Keyed by order: the start reads its order's events in the order kept.
CREATE TABLE deferred_events (
    order_id     TEXT    NOT NULL,
    kept_at      INTEGER NOT NULL,
    envelope_id  TEXT    NOT NULL,
    event        TEXT    NOT NULL,
    PRIMARY KEY (order_id, kept_at, envelope_id)
) STRICT, WITHOUT ROWID;
