"""Every query of the shipped Grafana dashboard runs on the real schema (chdb).

Grafana's ClickHouse datasource macros are rendered the way the plugin does it for a
one-hour range, so a renamed column or a typo in a panel fails here, not on a wall screen.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

DASHBOARD = Path(__file__).resolve().parents[2] / "infra" / "grafana" / "dashboards" / "tocsin.json"


def render(sql: str) -> str:
    sql = re.sub(
        r"\$__timeFilter\((\w+)\)",
        r"\1 >= now() - INTERVAL 1 HOUR AND \1 <= now()",
        sql,
    )
    sql = re.sub(r"\$__timeInterval\((\w+)\)", r"toStartOfInterval(\1, INTERVAL 60 second)", sql)
    sql = sql.replace("$__interval_s", "60")
    return sql.replace("${service:singlequote}", "'chat-api','summarizer'")


@pytest.fixture
def store(migrated_store: Client) -> Client:
    return migrated_store


def test_dashboard_uses_the_provisioned_datasource() -> None:
    dash = json.loads(DASHBOARD.read_text())
    uids = {p["datasource"]["uid"] for p in dash["panels"]}
    provisioning = (
        DASHBOARD.parents[1] / "provisioning" / "datasources" / "clickhouse.yaml"
    ).read_text()
    assert uids == {"tocsin-ch"} and "uid: tocsin-ch" in provisioning


def test_every_panel_query_runs_on_the_schema(store: Client) -> None:
    dash = json.loads(DASHBOARD.read_text())
    queries = [t["rawSql"] for p in dash["panels"] for t in p["targets"]]
    queries += [v["query"] for v in dash["templating"]["list"]]
    assert len(queries) >= 6
    for sql in queries:
        rendered = render(sql)
        assert "$" not in rendered, rendered
        store.query(rendered)  # raises on an unknown column, table or function
