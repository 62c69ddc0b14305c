-- The starts `POST /v1/orders` reserved per coffee event and customer when the workflow does
-- not check the customer's limit (Step Functions): a JSON list of reservations, guarded by
-- its version.
CREATE TABLE start_reservations (
    event_id    TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    entries     TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    PRIMARY KEY (event_id, user_id)
) STRICT, WITHOUT ROWID;
