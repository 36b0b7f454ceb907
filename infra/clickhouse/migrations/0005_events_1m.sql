-- events_1m: the minute rollup of events (issue 9, item 7), one row per
-- minute x service x deployment x track x model x model_version after merges (read it with
-- sum() and -Merge over GROUP BY, never row by row: until a merge several rows share a key).
-- Counters are SimpleAggregateFunction(sum) and add up across any grouping, so
--   SELECT deployment, sum(events) FROM events_1m GROUP BY deployment
-- is the event count; latency_q and ttft_q are quantiles(0.5, 0.9, 0.95, 0.99) states:
--   quantilesMerge(0.5, 0.9, 0.95, 0.99)(latency_q)[3]  -- p95 latency
-- events_1m_summary (below) does both per minute and adds the ratios.
--
-- Counters: events; errors (status = 'error'); timeouts (status = 'timeout'); scored
-- (toxicity not NULL) and toxic (toxicity > 0.5), both unweighted; scored_weighted and
-- toxic_weighted, the same sums of sample_weight (1 for a scored event without a weight),
-- the unbiased estimates when only a sample of the answers is scored: the toxicity ratio is
-- toxic_weighted / scored_weighted; pii_events (pii_count > 0); response_pii_events
-- (response_pii_count > 0: PII in the answer, a leak); tokens_in, tokens_out, cost_usd.
-- latency_q over latency_ms; ttft_q over ttft_ms where it is not NULL.
--
-- Duplicates. The view sees every block inserted into events, not the deduplicated table,
-- so events_1m counts what was inserted. What keeps a duplicate out:
-- 1. A retried insert of the same batch (the store timed out after writing it) carries the
--    same insert_deduplication_token: events drops it (non_replicated_deduplication_window,
--    0004) and so does events_1m, because the view's block inherits the token and events_1m
--    has its own deduplication window. This needs the insert setting
--    deduplicate_blocks_in_dependent_materialized_views = 1: on by default in the ClickHouse
--    26.9 that chdb embeds (checked), off by default on older servers, so the worker passes
--    it with its inserts. Without the window on events_1m the view counts the retry again
--    (checked on chdb 26.9: it did, while events dropped the block).
--    tests/integration/test_analyst_sql.py checks this.
-- 2. A replay after a crash: the worker skips events whose Kafka offset is already stored,
--    so replayed messages are not inserted again.
-- Not kept out: the same event inserted again in a new batch (same event_id, another
-- offset, e.g. a producer retry that wrote the message twice to Kafka). events collapses it
-- (ReplacingMergeTree, read through events_dedup) but events_1m counts it twice. Where exact
-- counts matter, compare with events_dedup (docs/sql/rollup_check.sql) and rebuild the
-- minutes that differ (tests/integration/test_analyst_sql.py does it):
--   ALTER TABLE events_1m DELETE WHERE minute >= X AND minute < Y SETTINGS mutations_sync = 2
--   then the backfill INSERT below with WHERE ts >= X AND ts < Y in place of its guard.
--
-- Backfill: a materialized view only sees new inserts, so the table is filled once from the
-- events already stored (FINAL: each event once) before the view is created. The guard
-- (events_1m still empty) keeps a rerun of an interrupted migration from counting twice.
-- Run migrations before the workers consume (workers and `tocsin up` do): events inserted
-- between this backfill and the CREATE MATERIALIZED VIEW would be missing from events_1m.
CREATE TABLE IF NOT EXISTS {database}.events_1m {on_cluster}
(
    minute              DateTime('UTC'),
    service             LowCardinality(String),
    deployment          LowCardinality(String),
    track               LowCardinality(String),
    model               LowCardinality(String),
    model_version       LowCardinality(String),
    events              SimpleAggregateFunction(sum, UInt64),
    errors              SimpleAggregateFunction(sum, UInt64),
    timeouts            SimpleAggregateFunction(sum, UInt64),
    toxic               SimpleAggregateFunction(sum, UInt64),
    scored              SimpleAggregateFunction(sum, UInt64),
    toxic_weighted      SimpleAggregateFunction(sum, Float64),
    scored_weighted     SimpleAggregateFunction(sum, Float64),
    pii_events          SimpleAggregateFunction(sum, UInt64),
    response_pii_events SimpleAggregateFunction(sum, UInt64),
    tokens_in           SimpleAggregateFunction(sum, UInt64),
    tokens_out          SimpleAggregateFunction(sum, UInt64),
    cost_usd            SimpleAggregateFunction(sum, Float64),
    latency_q           AggregateFunction(quantiles(0.5, 0.9, 0.95, 0.99), Float64),
    ttft_q              AggregateFunction(quantiles(0.5, 0.9, 0.95, 0.99), Float64)
)
ENGINE = {engine_prefix}AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, service, deployment, track, model, model_version)
SETTINGS non_replicated_deduplication_window = 1000;

INSERT INTO {database}.events_1m
SELECT
    toStartOfMinute(ts) AS minute,
    service,
    deployment,
    track,
    model,
    model_version,
    count() AS events,
    countIf(status = 'error') AS errors,
    countIf(status = 'timeout') AS timeouts,
    countIf(toxicity > 0.5) AS toxic,
    countIf(toxicity IS NOT NULL) AS scored,
    sumIf(toFloat64(ifNull(sample_weight, 1)), toxicity > 0.5) AS toxic_weighted,
    sumIf(toFloat64(ifNull(sample_weight, 1)), toxicity IS NOT NULL) AS scored_weighted,
    countIf(pii_count > 0) AS pii_events,
    countIf(response_pii_count > 0) AS response_pii_events,
    sum(toUInt64(tokens_in)) AS tokens_in,
    sum(toUInt64(tokens_out)) AS tokens_out,
    sum(cost_usd) AS cost_usd,
    quantilesState(0.5, 0.9, 0.95, 0.99)(latency_ms) AS latency_q,
    quantilesStateIf(0.5, 0.9, 0.95, 0.99)(assumeNotNull(ttft_ms), ttft_ms IS NOT NULL) AS ttft_q
FROM {database}.events FINAL
WHERE (SELECT count() FROM {database}.events_1m) = 0
GROUP BY minute, service, deployment, track, model, model_version;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.events_1m_mv {on_cluster}
TO {database}.events_1m
AS SELECT
    toStartOfMinute(ts) AS minute,
    service,
    deployment,
    track,
    model,
    model_version,
    count() AS events,
    countIf(status = 'error') AS errors,
    countIf(status = 'timeout') AS timeouts,
    countIf(toxicity > 0.5) AS toxic,
    countIf(toxicity IS NOT NULL) AS scored,
    sumIf(toFloat64(ifNull(sample_weight, 1)), toxicity > 0.5) AS toxic_weighted,
    sumIf(toFloat64(ifNull(sample_weight, 1)), toxicity IS NOT NULL) AS scored_weighted,
    countIf(pii_count > 0) AS pii_events,
    countIf(response_pii_count > 0) AS response_pii_events,
    sum(toUInt64(tokens_in)) AS tokens_in,
    sum(toUInt64(tokens_out)) AS tokens_out,
    sum(cost_usd) AS cost_usd,
    quantilesState(0.5, 0.9, 0.95, 0.99)(latency_ms) AS latency_q,
    quantilesStateIf(0.5, 0.9, 0.95, 0.99)(assumeNotNull(ttft_ms), ttft_ms IS NOT NULL) AS ttft_q
FROM {database}.events
GROUP BY minute, service, deployment, track, model, model_version;

-- One row per minute and key with the quantiles merged and the ratios computed (NULL where
-- the denominator is 0). Ratios of a longer range: sum the counters over events_1m and
-- divide, never average these ratios.
CREATE VIEW IF NOT EXISTS {database}.events_1m_summary {on_cluster} AS
SELECT
    minute,
    service,
    deployment,
    track,
    model,
    model_version,
    sum(events) AS events,
    sum(errors) AS errors,
    sum(timeouts) AS timeouts,
    if(events > 0, errors / events, NULL) AS error_ratio,
    if(events > 0, (errors + timeouts) / events, NULL) AS bad_ratio,
    sum(scored) AS scored,
    sum(toxic) AS toxic,
    if(sum(scored_weighted) > 0, sum(toxic_weighted) / sum(scored_weighted), NULL) AS toxicity_ratio,
    sum(pii_events) AS pii_events,
    sum(response_pii_events) AS response_pii_events,
    if(events > 0, response_pii_events / events, NULL) AS pii_leak_ratio,
    quantilesMerge(0.5, 0.9, 0.95, 0.99)(latency_q) AS latency_quantiles,
    latency_quantiles[1] AS latency_p50,
    latency_quantiles[2] AS latency_p90,
    latency_quantiles[3] AS latency_p95,
    latency_quantiles[4] AS latency_p99,
    quantilesMerge(0.5, 0.9, 0.95, 0.99)(ttft_q) AS ttft_quantiles,
    ttft_quantiles[1] AS ttft_p50,
    ttft_quantiles[3] AS ttft_p95,
    sum(tokens_in) AS tokens_in,
    sum(tokens_out) AS tokens_out,
    sum(cost_usd) AS cost_usd
FROM {database}.events_1m
GROUP BY minute, service, deployment, track, model, model_version;
