-- One row per delivery attempt of an incident notification (Slack, PagerDuty, webhook), and
-- one per notification that was not sent because a silence or an inhibition held it back.
-- Never holds a webhook URL, routing key or signing secret: receivers are named, not located.
-- outcome: delivered | retrying | failed | rejected (a 4xx: configuration error, not retried)
--          | silenced | inhibited | skipped (already delivered before a restart).
-- An (incident_id, receiver, action) with a `delivered` row is never sent again, which is how
-- a restarted alerter neither pages twice nor forgets what it still owes. (Replacing: two
-- identical attempt rows, as a retried insert writes, collapse.)
CREATE TABLE IF NOT EXISTS {database}.notifications {on_cluster}
(
    ts            DateTime64(3, 'UTC'),
    incident_id   String,
    alert_id      String,
    receiver      LowCardinality(String),
    receiver_type LowCardinality(String),
    action        LowCardinality(String),
    attempt       UInt16,
    status_code   UInt16,
    latency_ms    Float64,
    outcome       LowCardinality(String),
    error         String,
    service       LowCardinality(String),
    deployment    LowCardinality(String),
    rule          LowCardinality(String),
    severity      LowCardinality(String)
)
ENGINE = {engine_prefix}ReplacingMergeTree
ORDER BY (incident_id, receiver, action, ts, attempt);
