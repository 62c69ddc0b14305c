-- Each coffee event's shop settings (a JSON `ShopSettings`), once a barista set them; an
-- event without a row has the configured defaults.
CREATE TABLE shops (
    event_id    TEXT    PRIMARY KEY NOT NULL,
    settings    TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
