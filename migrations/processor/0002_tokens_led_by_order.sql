-- Task tokens now lead with their order's id (`EMB2.<order id>.<random>`), and the execution
-- waiting on one is found by that id: the index of every waiting token goes (each wait
-- rewrote a page of it for the token it left and one for the token it took). Tokens issued
-- before (`EMB1.<a UUID>.<random>`) are still found through an index that holds only them:
-- it empties as their waits end or time out.
DROP INDEX executions_by_token;
CREATE INDEX executions_by_legacy_token ON executions (token)
    WHERE substr(token, 1, 5) = 'EMB1.';
