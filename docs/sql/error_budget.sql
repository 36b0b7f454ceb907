/*
   Error budget remaining per deployment: availability over the last 30 days against a
   99.9% objective (the zero-config availability SLO of every service x deployment: an event
   is bad when its status is error or timeout), with the page incidents its SLO alerts opened.

   budget_events is what 0.1% of the traffic seen allows; budget_remaining = 1 - bad /
   budget_events (1 = untouched, 0 = spent, negative = overspent). It measures the traffic
   stored, not a projected month: a deployment three days old has three days of budget.
   For an SLO with another objective or selector, change `objective` and the WHERE clause.

   Run:  tocsin sql "$(cat docs/sql/error_budget.sql)"
   Source: events_1m (minute rollup) and alerts_dedup.
*/
WITH 0.999 AS objective
SELECT
    b.service AS service,
    b.deployment AS deployment,
    b.track AS track,
    b.events AS events,
    b.bad AS bad,
    round(1 - b.bad / b.events, 6) AS availability,
    objective,
    round((1 - objective) * b.events, 1) AS budget_events,
    round(1 - b.bad / ((1 - objective) * b.events), 4) AS budget_remaining,
    ifNull(a.page_incidents, 0) AS page_incidents
FROM
(
    SELECT service, deployment, track, sum(events) AS events, sum(errors) + sum(timeouts) AS bad
    FROM events_1m
    WHERE minute >= now() - INTERVAL 30 DAY
    GROUP BY service, deployment, track
    HAVING events > 0
) AS b
LEFT JOIN
(
    SELECT service, deployment, uniqExact(incident_id) AS page_incidents
    FROM alerts_dedup
    WHERE kind = 'slo' AND severity = 'page' AND state = 'firing'
      AND ts >= now() - INTERVAL 30 DAY
    GROUP BY service, deployment
) AS a ON a.service = b.service AND a.deployment = b.deployment
ORDER BY budget_remaining, service, deployment
