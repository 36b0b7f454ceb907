-- One row per inference event, with the verdicts of the detectors.
-- ReplacingMergeTree keyed on (service, deployment, ts, event_id): every key column is
-- fixed per event, so a replayed event collapses onto its first copy (latest ingested_at
-- wins). Duplicates live until a background merge: read through events_dedup (FINAL) or
-- uniqExact(event_id) when exact counts matter.
-- Placeholders ({database}, {on_cluster}, {engine_prefix}, {events_ttl}) are rendered by
-- `tocsin migrate`; never edit this file once applied, add 0003_... instead.
-- {events_ttl} is empty (keep forever) unless clickhouse_ttl_days is set when the table is
-- created: a TTL also drops old rows at insert, which would silently discard a backfill.
CREATE TABLE IF NOT EXISTS {database}.events {on_cluster}
(
    event_id        String,
    ts              DateTime64(3, 'UTC'),
    service         LowCardinality(String),
    deployment      LowCardinality(String),
    track           LowCardinality(String),
    model           LowCardinality(String),
    model_version   LowCardinality(String),
    status          LowCardinality(String),
    error_type      LowCardinality(String),
    trace_id        String,
    prompt          String,
    response        String,
    latency_ms      Float64,
    ttft_ms         Nullable(Float64),
    tokens_in       UInt32,
    tokens_out      UInt32,
    cost_usd        Float64,
    user_hash       String,
    features        Map(String, Float64),
    attributes      Map(String, String),
    schema_id       UInt32,
    pii_types       Array(LowCardinality(String)),
    pii_count       UInt16,
    toxicity        Nullable(Float32),
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3),
    kafka_partition UInt16,
    kafka_offset    UInt64
)
ENGINE = {engine_prefix}ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (service, deployment, ts, event_id)
{events_ttl};

-- Deduplicated reading of events: what dashboards and `tocsin sql` users should query.
CREATE VIEW IF NOT EXISTS {database}.events_dedup {on_cluster} AS
SELECT * FROM {database}.events FINAL;
