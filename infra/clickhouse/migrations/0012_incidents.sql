-- The alert router's incidents (one per rule x deployment while it lasts), one row per state
-- change; the newest `version` of an incident_id is its state (read with FINAL).
-- state: triggered | acknowledged | resolved. members: the worker incident ids grouped into
-- it -> their severity while firing. alert_ids: every alert record applied (replays of an
-- alert_id are dropped, also across restarts).
CREATE TABLE IF NOT EXISTS {database}.incidents {on_cluster}
(
    incident_id   String,
    group_key     String,
    state         LowCardinality(String),
    severity      LowCardinality(String),
    kind          LowCardinality(String),
    rule          LowCardinality(String),
    service       LowCardinality(String),
    deployment    LowCardinality(String),
    track         LowCardinality(String),
    started_at    DateTime64(3, 'UTC'),
    updated_at    DateTime64(3, 'UTC'),
    resolved_at   Nullable(DateTime64(3, 'UTC')),
    acknowledged_by String,
    members       Map(String, String),
    alert_ids     Array(String),
    last_alert    String,
    version       UInt64
)
ENGINE = {engine_prefix}ReplacingMergeTree(version)
ORDER BY incident_id;
