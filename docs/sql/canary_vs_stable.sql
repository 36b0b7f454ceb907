/*
   Canary vs stable, side by side: per service with a canary track, the last hour of both
   tracks (a `baseline` track counts as stable): error ratio, p95 latency, toxicity ratio
   (weighted: unbiased when only a sample of the answers is scored) and PII leak ratio (share
   of answers with PII in the response). A quick look, not a verdict: the worker's canary
   verdicts (alerts with kind = 'canary') carry the statistical tests.

   Run:  tocsin sql "$(cat docs/sql/canary_vs_stable.sql)"
   Source: events_1m (minute rollup).
*/
SELECT
    service,
    sumIf(n, side = 'stable') AS stable_events,
    sumIf(n, side = 'canary') AS canary_events,
    round(maxIf(error_ratio, side = 'stable'), 4) AS stable_error_ratio,
    round(maxIf(error_ratio, side = 'canary'), 4) AS canary_error_ratio,
    round(maxIf(latency_p95_ms, side = 'stable'), 1) AS stable_p95_ms,
    round(maxIf(latency_p95_ms, side = 'canary'), 1) AS canary_p95_ms,
    round(maxIf(toxicity_ratio, side = 'stable'), 4) AS stable_toxicity_ratio,
    round(maxIf(toxicity_ratio, side = 'canary'), 4) AS canary_toxicity_ratio,
    round(maxIf(pii_leak_ratio, side = 'stable'), 4) AS stable_pii_leak_ratio,
    round(maxIf(pii_leak_ratio, side = 'canary'), 4) AS canary_pii_leak_ratio
FROM
(
    SELECT
        service,
        if(track = 'baseline', 'stable', track) AS side,
        sum(events) AS n,
        sum(errors) / n AS error_ratio,
        quantilesMerge(0.5, 0.9, 0.95, 0.99)(latency_q)[3] AS latency_p95_ms,
        if(sum(scored_weighted) > 0, sum(toxic_weighted) / sum(scored_weighted), nan)
            AS toxicity_ratio,
        sum(response_pii_events) / n AS pii_leak_ratio
    FROM events_1m
    WHERE minute >= toStartOfMinute(now() - INTERVAL 1 HOUR)
      AND track IN ('stable', 'baseline', 'canary')
    GROUP BY service, side
    HAVING n > 0
)
GROUP BY service
HAVING canary_events > 0 AND stable_events > 0
ORDER BY service
