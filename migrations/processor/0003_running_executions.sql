-- How many executions run (wait for the customer or the barista) per coffee event and per
-- customer at it: what a start reads to check the shop's capacity and the customer's limit,
-- two point reads however many run. Kept by triggers, in the transaction of the write that
-- starts or ends an execution; an execution never runs again once it has ended.
CREATE TABLE running_by_event (
    event_id  TEXT    PRIMARY KEY NOT NULL,
    n         INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE running_by_user (
    event_id  TEXT    NOT NULL,
    user_id   TEXT    NOT NULL,
    n         INTEGER NOT NULL,
    PRIMARY KEY (event_id, user_id)
) STRICT, WITHOUT ROWID;

INSERT INTO running_by_event (event_id, n)
    SELECT event_id, count(*) FROM executions
    WHERE state IN ('waiting_submission', 'waiting_completion') GROUP BY event_id;
INSERT INTO running_by_user (event_id, user_id, n)
    SELECT event_id, user_id, count(*) FROM executions
    WHERE state IN ('waiting_submission', 'waiting_completion') GROUP BY event_id, user_id;

CREATE TRIGGER execution_runs AFTER INSERT ON executions
WHEN NEW.state IN ('waiting_submission', 'waiting_completion')
BEGIN
    INSERT OR IGNORE INTO running_by_event (event_id, n) VALUES (NEW.event_id, 0);
    UPDATE running_by_event SET n = n + 1 WHERE event_id = NEW.event_id;
    INSERT OR IGNORE INTO running_by_user (event_id, user_id, n)
        VALUES (NEW.event_id, NEW.user_id, 0);
    UPDATE running_by_user SET n = n + 1
        WHERE event_id = NEW.event_id AND user_id = NEW.user_id;
END;

CREATE TRIGGER execution_ends AFTER UPDATE OF state ON executions
WHEN OLD.state IN ('waiting_submission', 'waiting_completion')
    AND NEW.state NOT IN ('waiting_submission', 'waiting_completion')
BEGIN
    UPDATE running_by_event SET n = n - 1 WHERE event_id = OLD.event_id;
    UPDATE running_by_user SET n = n - 1
        WHERE event_id = OLD.event_id AND user_id = OLD.user_id;
    DELETE FROM running_by_user
        WHERE event_id = OLD.event_id AND user_id = OLD.user_id AND n <= 0;
END;
