/*
   Drift timeline: per minute of the last 7 days, which drift detector saw which signal of
   which key change, with the strongest statistic of that minute. Drift detections are the
   rows of `detections` whose alert has kind = 'drift' (detectors: cusum, categorical,
   adwin, page_hinkley, kswin).

   Run:  tocsin sql "$(cat docs/sql/drift_timeline.sql)"
   Source: detections_dedup and alerts_dedup (each verdict once).
*/
SELECT
    toStartOfMinute(d.ts) AS minute,
    d.service AS service,
    d.deployment AS deployment,
    d.detector AS detector,
    d.key AS key,
    d.verdict AS verdict,
    count() AS detections,
    max(d.statistic) AS max_statistic,
    any(d.threshold) AS threshold,
    min(d.window_start) AS window_start,
    max(d.window_end) AS window_end
FROM detections_dedup AS d
WHERE d.ts >= now() - INTERVAL 7 DAY
  AND d.alert_id IN (SELECT alert_id FROM alerts_dedup WHERE kind = 'drift')
GROUP BY minute, service, deployment, detector, key, verdict
ORDER BY minute, service, deployment, detector, key
