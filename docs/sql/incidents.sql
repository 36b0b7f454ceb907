/*
   Incidents with their evidence: every alert that fired in the last 7 days, with the
   detection behind it (detector, event-time window) and the events in that window for its
   service, deployment and track: how many, how many bad (error or timeout), toxic (score
   above 0.5) or leaking PII in the answer, and the first event ids. docs/sql/alert_events.sql
   lists the events of one alert.

   The evidence of an alert is every stored event of its key in the detection's window
   [window_start, window_end): for an SLO alert the long window of the burn-rate pair, for a
   canary verdict the window of the comparison, for drift the window of the detector.

   Run:  tocsin sql "$(cat docs/sql/incidents.sql)"
   Source: alerts_dedup, detections_dedup, events_dedup (each row once).
*/
WITH fired AS
(
    SELECT
        a.incident_id AS incident_id,
        a.alert_id AS alert_id,
        a.ts AS ts,
        a.kind AS kind,
        a.rule AS rule,
        a.severity AS severity,
        a.window AS window,
        a.value AS value,
        a.threshold AS threshold,
        d.detector AS detector,
        d.service AS service,
        d.deployment AS deployment,
        d.track AS track,
        d.window_start AS window_start,
        d.window_end AS window_end
    FROM alerts_dedup AS a
    INNER JOIN detections_dedup AS d ON d.alert_id = a.alert_id
    WHERE a.state = 'firing' AND a.ts >= now() - INTERVAL 7 DAY
),
evidence AS
(
    SELECT
        f.alert_id AS alert_id,
        count() AS evidence_events,
        countIf(e.status IN ('error', 'timeout')) AS bad_events,
        countIf(e.toxicity > 0.5) AS toxic_events,
        countIf(e.response_pii_count > 0) AS pii_leak_events,
        arraySort(groupArray(5)(e.event_id)) AS some_event_ids
    FROM fired AS f
    INNER JOIN events_dedup AS e ON e.service = f.service
    WHERE e.ts >= f.window_start AND e.ts < f.window_end
      AND (f.deployment = '' OR e.deployment = f.deployment)
      AND (f.track = '' OR e.track = f.track)
    GROUP BY f.alert_id
)
SELECT
    f.incident_id AS incident_id,
    f.alert_id AS alert_id,
    f.ts AS ts,
    f.kind AS kind,
    f.rule AS rule,
    f.severity AS severity,
    f.service AS service,
    f.deployment AS deployment,
    f.track AS track,
    f.detector AS detector,
    f.window AS window,
    f.value AS value,
    f.threshold AS threshold,
    f.window_start AS window_start,
    f.window_end AS window_end,
    ifNull(ev.evidence_events, 0) AS evidence_events,
    ifNull(ev.bad_events, 0) AS bad_events,
    ifNull(ev.toxic_events, 0) AS toxic_events,
    ifNull(ev.pii_leak_events, 0) AS pii_leak_events,
    ev.some_event_ids AS some_event_ids
FROM fired AS f
LEFT JOIN evidence AS ev ON ev.alert_id = f.alert_id
ORDER BY f.ts DESC, f.alert_id
