-- Records the worker could not read, with their original bytes (key and value are String:
-- ClickHouse strings hold raw bytes; read them with hex(value) or base64Encode(value)).
-- Header values are raw bytes too. Keyed by the record's position, so a replayed dead
-- letter collapses onto its first copy.
CREATE TABLE IF NOT EXISTS {database}.dead_letters {on_cluster}
(
    ts_ingested     DateTime64(3, 'UTC') DEFAULT now64(3),
    topic           LowCardinality(String),
    kafka_partition UInt32,
    kafka_offset    UInt64,
    key             Nullable(String),
    value           String,
    headers         Map(String, String),
    reason          LowCardinality(String),
    detail          String,
    schema_id       Nullable(UInt32)
)
ENGINE = {engine_prefix}ReplacingMergeTree(ts_ingested)
ORDER BY (topic, kafka_partition, kafka_offset)
TTL toDateTime(ts_ingested) + INTERVAL {dead_letters_ttl_days} DAY;
