/*
   Top PII types by service over the last 7 days: how many events carried each type (in the
   prompt or the answer), and how many of those events had PII in the answer (a leak: a user
   pasting their own e-mail address is normal, a model answering with someone's is not).
   ClickHouse holds no PII literal: the worker redacts prompts and answers before storing
   them and keeps only the types (pii_types) and counts (pii_count, response_pii_count).

   Run:  tocsin sql "$(cat docs/sql/top_pii_types.sql)"
   Source: events_dedup (each event once), one row per type with ARRAY JOIN.
*/
SELECT
    service,
    pii_type,
    count() AS events,
    countIf(response_pii_count > 0) AS events_with_pii_in_answer,
    round(count() / any(service_events), 4) AS share_of_service_events
FROM
(
    SELECT service, pii_types, response_pii_count,
           count() OVER (PARTITION BY service) AS service_events
    FROM events_dedup
    WHERE ts >= now() - INTERVAL 7 DAY
)
ARRAY JOIN pii_types AS pii_type
GROUP BY service, pii_type
ORDER BY service, events DESC, pii_type
LIMIT 10 BY service
