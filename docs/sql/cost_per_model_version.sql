/*
   Cost per model version: over the last 30 days, per service, model and model version, the
   traffic, tokens and cost, with the cost per 1,000 requests and per million tokens, so a
   new version that answers longer (or costs more per token) shows up next to the old one.

   Run:  tocsin sql "$(cat docs/sql/cost_per_model_version.sql)"
   Source: events_1m (minute rollup).
*/
SELECT
    service,
    model,
    model_version,
    n AS events,
    tin AS tokens_in,
    tout AS tokens_out,
    round(usd, 4) AS cost_usd,
    round(1000 * usd / n, 4) AS usd_per_1k_requests,
    round(1e6 * usd / nullIf(tin + tout, 0), 4) AS usd_per_1m_tokens,
    round(tout / n, 1) AS tokens_out_per_request,
    first_minute,
    last_minute
FROM
(
    SELECT
        service,
        model,
        model_version,
        sum(events) AS n,
        sum(tokens_in) AS tin,
        sum(tokens_out) AS tout,
        sum(cost_usd) AS usd,
        min(minute) AS first_minute,
        max(minute) AS last_minute
    FROM events_1m
    WHERE minute >= now() - INTERVAL 30 DAY
    GROUP BY service, model, model_version
    HAVING n > 0
)
ORDER BY service, model, model_version
