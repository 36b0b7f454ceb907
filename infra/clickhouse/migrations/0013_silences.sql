-- Silences (`tocsin silence add|list|expire`): an alert whose labels match every matcher is
-- not notified between starts_at and ends_at. Expiring a silence writes a newer version with
-- ends_at = now; read with FINAL.
CREATE TABLE IF NOT EXISTS {database}.silences {on_cluster}
(
    silence_id  String,
    matchers    Map(String, String),
    starts_at   DateTime64(3, 'UTC'),
    ends_at     DateTime64(3, 'UTC'),
    comment     String,
    created_by  String,
    created_at  DateTime64(3, 'UTC'),
    version     UInt64
)
ENGINE = {engine_prefix}ReplacingMergeTree(version)
ORDER BY silence_id;
