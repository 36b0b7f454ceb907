/*
   Follow an alert to its events: the stored events behind one alert, bad ones first. The
   alert's detection row gives the key (service, deployment, track; empty = any) and the
   event-time window [window_start, window_end) its detector looked at.

   Paste an alert_id between the quotes of `wanted` (from docs/sql/incidents.sql, the alerts
   topic or the alert's annotations); left empty, the query follows the latest page alert
   that fired.

   Run:  tocsin sql "$(cat docs/sql/alert_events.sql)"
         tocsin sql "$(sed "s/'' AS wanted/'ALERT_ID' AS wanted/" docs/sql/alert_events.sql)"
   Source: alerts_dedup, detections_dedup, events_dedup (each row once).
*/
WITH
    '' AS wanted,
    (
        SELECT argMax(alert_id, ts) FROM alerts_dedup
        WHERE state = 'firing' AND severity = 'page'
    ) AS latest_page
SELECT
    d.alert_id AS alert_id,
    e.ts AS ts,
    e.event_id AS event_id,
    e.service AS service,
    e.deployment AS deployment,
    e.track AS track,
    e.model_version AS model_version,
    e.status AS status,
    e.error_type AS error_type,
    e.latency_ms AS latency_ms,
    e.toxicity AS toxicity,
    e.pii_types AS pii_types,
    e.response_pii_count AS response_pii_count,
    e.trace_id AS trace_id
FROM events_dedup AS e
INNER JOIN
(
    SELECT alert_id, service, deployment, track, window_start, window_end
    FROM detections_dedup
    WHERE alert_id = if(wanted = '', latest_page, wanted)
) AS d ON e.service = d.service
WHERE e.ts >= d.window_start AND e.ts < d.window_end
  AND (d.deployment = '' OR e.deployment = d.deployment)
  AND (d.track = '' OR e.track = d.track)
ORDER BY e.status IN ('error', 'timeout') DESC, ifNull(e.toxicity, 0) > 0.5 DESC,
         e.response_pii_count > 0 DESC, e.ts, e.event_id
LIMIT 1000
