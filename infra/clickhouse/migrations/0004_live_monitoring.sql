-- Live monitoring (issue 9): what the worker's monitors decide, and the state behind it.
--
-- alerts: one row per alert record the worker put on the alerts topic (the Avro `alert`
-- record, field for field). alert_id is deterministic (rule, key, window, severity, state,
-- event minute), so a replay after a crash re-emits the same id: the table collapses it.
-- Read through alerts_dedup (FINAL) when exact counts matter.
CREATE TABLE IF NOT EXISTS {database}.alerts {on_cluster}
(
    alert_id     String,
    incident_id  String,
    ts           DateTime64(3, 'UTC'),
    kind         LowCardinality(String),
    rule         LowCardinality(String),
    severity     LowCardinality(String),
    state        LowCardinality(String),
    service      LowCardinality(String),
    deployment   LowCardinality(String),
    track        LowCardinality(String),
    model        LowCardinality(String),
    window       LowCardinality(String),
    value        Nullable(Float64),
    threshold    Nullable(Float64),
    summary      String,
    labels       Map(String, String),
    annotations  Map(String, String),
    emitted_at   DateTime64(3, 'UTC') DEFAULT now64(3),
    worker_id    LowCardinality(String)
)
ENGINE = {engine_prefix}ReplacingMergeTree(emitted_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (alert_id);

CREATE VIEW IF NOT EXISTS {database}.alerts_dedup {on_cluster} AS
SELECT * FROM {database}.alerts FINAL;

-- detections: the audit trail, one row per detector verdict (SLO transition, drift
-- detection, canary verdict change) with the detector, its parameters, the key, the
-- statistic and the event-time range of the events behind it, so that
--   SELECT * FROM events_dedup WHERE service = d.service AND deployment = d.deployment
--     AND ts >= d.window_start AND ts < d.window_end
-- lists the evidence of any alert (join on alert_id).
CREATE TABLE IF NOT EXISTS {database}.detections {on_cluster}
(
    alert_id         String,
    ts               DateTime64(3, 'UTC'),
    detector         LowCardinality(String),
    detector_version LowCardinality(String),
    rule             LowCardinality(String),
    params           String,
    key              String,
    service          LowCardinality(String),
    deployment       LowCardinality(String),
    track            LowCardinality(String),
    verdict          LowCardinality(String),
    statistic        Nullable(Float64),
    threshold        Nullable(Float64),
    window           LowCardinality(String),
    window_start     DateTime64(3, 'UTC'),
    window_end       DateTime64(3, 'UTC'),
    evidence         String,
    emitted_at       DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = {engine_prefix}ReplacingMergeTree(emitted_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (alert_id);

CREATE VIEW IF NOT EXISTS {database}.detections_dedup {on_cluster} AS
SELECT * FROM {database}.detections FINAL;

-- monitor_state: each partition's monitor state (SLO rings, drift detectors, canary
-- accumulators) with the offset it reflects (DESIGN.md convention 3). The worker writes
-- one row per partition before each offset commit and, on assignment, resumes from the
-- newest row: it seeks to `next_offset`, so state and position never disagree.
CREATE TABLE IF NOT EXISTS {database}.monitor_state {on_cluster}
(
    group_id     LowCardinality(String),
    topic        LowCardinality(String),
    partition    UInt32,
    next_offset  UInt64,
    format       UInt16,
    state        String CODEC(ZSTD(3)),
    written_at   DateTime64(6, 'UTC') DEFAULT now64(6),
    worker_id    LowCardinality(String)
)
ENGINE = {engine_prefix}ReplacingMergeTree(written_at)
ORDER BY (group_id, topic, partition);

-- Toxicity under load: when scoring falls behind, a sample of the answers is scored and
-- each scored event carries its weight (1 / its sampling probability; NULL = not scored).
ALTER TABLE {database}.events {on_cluster}
    ADD COLUMN IF NOT EXISTS sample_weight Nullable(Float32) AFTER toxicity;

-- A retried insert of the same batch (store timed out after writing) carries the same
-- dedup token and is dropped, here and in the materialized views fed by events.
ALTER TABLE {database}.events {on_cluster}
    MODIFY SETTING non_replicated_deduplication_window = 1000;

CREATE OR REPLACE VIEW {database}.events_dedup {on_cluster} AS
SELECT * FROM {database}.events FINAL;
