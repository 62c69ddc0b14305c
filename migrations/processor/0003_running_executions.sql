-- The running executions of each coffee event, by customer: what a start counts to check the
-- shop's capacity and the customer's limit. An execution enters it when it starts and leaves
-- it when it ends.
CREATE INDEX executions_running ON executions (event_id, user_id)
    WHERE state IN ('waiting_submission', 'waiting_completion');
