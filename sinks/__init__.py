"""I/O adapters: ClickHouse, Slack, PagerDuty, webhooks, rollback signing."""
