-- Rollback commands and their acknowledgements: one row for each command issued (record =
-- 'command', status issued | dry_run | skipped_cooldown) and one per ack an agent sent
-- (record = 'ack', status received | executing | succeeded | failed | rejected).
-- ReplacingMergeTree on (command_id, record, ack_id): a replayed command or ack collapses onto
-- its first copy; read with FINAL (or the rollbacks_dedup view) when exact counts matter.
CREATE TABLE IF NOT EXISTS {database}.rollbacks {on_cluster}
(
    ts                DateTime64(3, 'UTC'),
    command_id        String,
    record            LowCardinality(String),
    ack_id            String,
    status            LowCardinality(String),
    incident_id       String,
    action            LowCardinality(String),
    service           LowCardinality(String),
    deployment        LowCardinality(String),
    target_deployment String,
    reason            String,
    issued_by         String,
    key_id            String,
    expires_at        Nullable(DateTime64(3, 'UTC')),
    agent_id          String,
    detail            String,
    duration_ms       Nullable(Float64),
    ingested_at       DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = {engine_prefix}ReplacingMergeTree(ingested_at)
ORDER BY (command_id, record, ack_id);

CREATE OR REPLACE VIEW {database}.rollbacks_dedup {on_cluster} AS
SELECT * FROM {database}.rollbacks FINAL;
