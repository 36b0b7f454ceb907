-- Cluster mode only (clickhouse_cluster set): Distributed tables over the replicated local
-- tables, for reading (and inserting) across every shard. Events are sharded by
-- cityHash64(event_id), so a replayed event lands on the shard of its first copy and
-- events_dedup_distributed (FINAL per shard) shows it once. On a single node every line
-- below renders as a comment and this migration does nothing.
{if_cluster}CREATE TABLE IF NOT EXISTS {database}.events_distributed {on_cluster} AS {database}.events ENGINE = Distributed({cluster_literal}, {database_literal}, 'events', cityHash64(event_id));
{if_cluster}CREATE TABLE IF NOT EXISTS {database}.dead_letters_distributed {on_cluster} AS {database}.dead_letters ENGINE = Distributed({cluster_literal}, {database_literal}, 'dead_letters', rand());
{if_cluster}CREATE VIEW IF NOT EXISTS {database}.events_dedup_distributed {on_cluster} AS SELECT * FROM {database}.events_distributed FINAL;
