/*
   Rollup check: the minutes of the last day where events_1m and the deduplicated events
   disagree. events_1m counts every insert into events; an event inserted twice in separate
   batches (same event_id, e.g. a message the producer wrote twice to Kafka) is counted twice
   there but once in events_dedup. Empty = the rollup is exact. To repair a minute, see the
   header of infra/clickhouse/migrations/0005_events_1m.sql.

   Run:  tocsin sql "$(cat docs/sql/rollup_check.sql)"
   Source: events_1m and events_dedup.
*/
WITH toStartOfMinute(now() - INTERVAL 1 DAY) AS since
SELECT
    minute,
    service,
    deployment,
    r.events AS rollup_events,
    s.events AS stored_events,
    toInt64(r.events) - toInt64(s.events) AS difference
FROM
(
    SELECT minute, service, deployment, sum(events) AS events
    FROM events_1m
    WHERE minute >= since
    GROUP BY minute, service, deployment
) AS r
FULL OUTER JOIN
(
    SELECT toStartOfMinute(ts) AS minute, service, deployment, count() AS events
    FROM events_dedup
    WHERE ts >= since
    GROUP BY minute, service, deployment
) AS s USING (minute, service, deployment)
WHERE r.events != s.events
ORDER BY minute, service, deployment
