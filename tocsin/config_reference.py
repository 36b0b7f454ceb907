"""The configuration reference (``docs/configuration.md``), generated from the settings model.

Every key of :class:`tocsin.settings.Settings` with its environment variable, type, default
and meaning. A field's meaning is its ``Field(description=...)``, or an entry of
:data:`MEANINGS` for the fields declared without one. ``tests/unit/test_config_reference.py``
fails when the file is stale or a field has no meaning.

Regenerate with ``python -m tocsin.config_reference --write`` (or ``make docs``).

Example
-------
>>> rows = reference_rows()
>>> next(r for r in rows if r.key == "worker.batch_size").env
'TOCSIN_WORKER__BATCH_SIZE'
"""

from __future__ import annotations

import argparse
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic_core import PydanticUndefined

from tocsin.settings import Settings

DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"

#: Meanings of the fields declared without a ``description``.
MEANINGS: dict[str, str] = {
    "pii.ner": "Find PERSON and LOCATION with the NER model too (opt-in: see README's PII section for its precision and speed).",
    "pii.ner_model_dir": "NER bundle directory; unset: the bundle shipped with tocsin.",
    "pii.ner_providers": "ONNX Runtime providers for the NER session; unset: CUDA when available, else CPU.",
    "alerting.enabled": "Run the alerter (routing, notifications, incidents, rollback commands) in the workers.",
    "alerting.slack_webhook_url": "Slack incoming webhook: every alert goes there (quick start, no YAML). Secret: never logged.",
    "alerting.slack_signing_secret": "Slack signing secret of the interactivity endpoint (v0 signatures). Secret.",
    "alerting.pagerduty_routing_key": "PagerDuty Events API v2 routing key: every page goes there (quick start). Secret.",
    "alerting.pagerduty_url": "PagerDuty Events API v2 endpoint (EU region or a test server).",
    "alerting.webhook_url": "A generic JSON webhook that gets every alert. Secret.",
    "alerting.routing_file": "YAML with receivers and routes (see infra/config/routing.yaml).",
    "alerting.receivers": "Receivers defined inline (name -> receiver).",
    "alerting.routes": "Routes defined inline (match -> receivers), first match wins unless `continue`.",
    "alerting.group_by": "Alert fields that make one incident (Alertmanager-style grouping).",
    "alerting.grafana_url": "Grafana base URL for links in notifications.",
    "alerting.delivery_timeout_s": "Timeout of one delivery attempt.",
    "alerting.delivery_base_delay_s": "First retry delay (exponential backoff with jitter).",
    "alerting.delivery_max_delay_s": "Largest retry delay.",
    "rollback.enabled": "The global kill switch of rollback commands.",
    "rollback.dry_run": "Record what would be rolled back, publish nothing.",
    "rollback.on_tracks": "Tracks whose deployments may be rolled back.",
    "rollback.on_kinds": "Alert kinds that roll back (page-level SLO alerts, canary fail verdicts).",
    "rollback.signing_key": "HMAC-SHA256 key that signs rollback commands. Secret.",
    "rollback.signing_key_file": "File holding the signing key.",
    "rollback.key_id": "Name of the signing key, sent with each command (rotation).",
    "rollback.agent_state_dir": "Where a deployment agent persists the command ids it acted on; unset: $TOCSIN_HOME/agents.",
    "rollback.kubernetes_url": "Kubernetes API server for the agent's Kubernetes adapter.",
    "rollback.kubernetes_token_file": "Bearer token file for the Kubernetes API.",
    "home": "Where the embedded stack keeps its state: broker data, chdb store, credentials, pids, logs.",
    "config": "A YAML settings file (also `TOCSIN_CONFIG`); else `$TOCSIN_HOME/tocsin.yaml` when present.",
    "bootstrap_servers": "Kafka bootstrap servers; unset: the embedded noida-db broker of `tocsin up`.",
    "schema_registry_url": "Confluent Schema Registry; unset: the ids of the shipped `schemas/manifest.json`.",
    "clickhouse_url": "ClickHouse over HTTP(S) (`https://user:pass@host:8443`); unset: the embedded store process.",
    "clickhouse_database": "Database of tocsin's tables (created when missing, except in cluster mode).",
    "clickhouse_cluster": "Cluster name: migrations render `ON CLUSTER`, Replicated engines and Distributed tables.",
    "clickhouse_migrations_dir": "Directory of numbered migrations; unset: `infra/clickhouse/migrations`.",
    "log_level": "Log level of the workers and services.",
    "topics.events": "Topic of inference events (all ingest doors write here).",
    "topics.dlq": "Dead-letter topic: undecodable records with their original bytes and the reason.",
    "topics.alerts": "Alert records (`alert.v1`), keyed by deployment.",
    "topics.rollback": "Signed rollback commands, keyed by deployment.",
    "topics.rollback_acks": "Acknowledgements of rollback commands from deployment agents.",
    "topics.state": "Compacted topic for worker state checkpoints.",
    "topics.partitions": "Partitions of each topic created by `tocsin up` (the upper bound of useful workers).",
    "topics.replication_factor": "Replication factor of created topics (1 for the embedded broker).",
    "topics.retention_ms": "`retention.ms` of created topics.",
    "topics.retention_bytes": "`retention.bytes` per partition (the embedded broker snapshots everything it keeps).",
    "topics.segment_bytes": "`segment.bytes`: retention by size only drops whole segments.",
    "worker.batch_size": "Records per `consume()` batch of the events consumer.",
    "worker.poll_timeout_s": "How long the consumer waits for the first record of a batch.",
    "worker.linger_s": "After a batch's first record, how long it waits for more (up to `batch_size`): latency vs batch size.",
    "worker.commit_interval_s": "Seconds between offset commits (after the writes they cover).",
    "worker.max_message_bytes": "Larger event records are dead-lettered.",
    "worker.group_id": "Consumer group of the workers (static members `worker-0..N-1`).",
    "pii.enabled": "Detect PII in prompts and responses.",
    "pii.entities": "Entity types to detect; unset: all supported.",
    "pii.allow_list": "Values never treated as PII.",
    "pii.custom_patterns": "Extra entity types: name -> regular expression.",
    "pii.mode": "How PII is stored: `replace` (`<EMAIL_ADDRESS>`), `hash` (HMAC) or `drop`.",
    "pii.hmac_key": "HMAC key of `mode: hash` (a secret: set it in production).",
    "pii.max_chars": "Characters scanned per text; the rest is cut from what is stored.",
    "pii.store_raw": "Store unredacted texts in ClickHouse (off: only redacted texts are stored).",
    "toxicity.enabled": "Score answers for toxicity in the worker.",
    "toxicity.model_dir": "An ONNX toxicity bundle; unset: the bundle shipped with tocsin.",
    "toxicity.providers": "ONNX Runtime execution providers; unset: CUDA when available, else CPU.",
    "toxicity.threshold": "Score at or above which an answer counts as toxic.",
    "toxicity.prefer_fp16": "Use a bundle's fp16 model on CUDA.",
    "drift.enabled": "Run online drift detection in the worker.",
    "drift.detector": "Detector of numeric signals; `auto` = the calibrated CUSUM.",
    "drift.threshold": "CUSUM alarm threshold, in standard deviations.",
    "drift.allowance": "CUSUM allowance (slack), in standard deviations.",
    "drift.block_size": "Values averaged per CUSUM step.",
    "drift.warmup": "Values learnt before a key can alarm.",
    "drift.reference_size": "Size of the reference window of a key.",
    "drift.categorical_reference_size": "Reference window of categorical signals.",
    "drift.categorical_window_size": "Current window of categorical signals.",
    "drift.categorical_alpha": "Significance of the categorical (chi-square) test.",
    "drift.categorical_min_psi": "Smallest population stability index that can alarm.",
    "drift.categorical_buckets": "Buckets of hashed categorical values.",
    "slo.enabled": "Evaluate SLO burn rates in the worker.",
    "slo.spec_file": "Sloth-style SLO spec; unset: `infra/config/slos.yaml`.",
    "slo.lateness_minutes": "Minutes of event time a minute waits for late events before it is evaluated.",
    "slo.idle_advance_s": "Without traffic, advance event time with the wall clock after this many seconds.",
    "otlp.default_track": "Track of spans whose resource does not name one.",
    "canary.enabled": "Compare each canary with its stable track in the worker.",
    "faults.crash_at": "Tests only: the point of the commit path where the worker SIGKILLs itself; empty = off.",
    "faults.crash_after": "Tests only: at which passage through `crash_at` the worker kills itself.",
}


@dataclass(frozen=True)
class Row:
    """One setting of the reference."""

    key: str
    env: str
    type: str
    default: str
    meaning: str


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" if a != "" else "`''`" for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        inner = " \\| ".join(_type_name(a) for a in args)
        return f"{inner} (optional)"
    if origin is not None:
        inner = ", ".join(_type_name(a) for a in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: Any) -> str:
    if field.default is PydanticUndefined:
        value = field.default_factory() if field.default_factory else None
    else:
        value = field.default
    if isinstance(value, SecretStr):
        return "(a placeholder: set your own)"
    if value is None:
        return "unset"
    if isinstance(value, Path):
        return f"`{value}`"
    return f"`{value!r}`" if isinstance(value, str) else f"`{value}`"


def reference_rows(model: type[BaseModel] = Settings, prefix: str = "") -> list[Row]:
    """Every leaf setting, in declaration order."""
    rows: list[Row] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.extend(reference_rows(annotation, f"{key}."))
            continue
        env = "TOCSIN_" + key.upper().replace(".", "__")
        meaning = field.description or MEANINGS.get(key, "")
        rows.append(Row(key, env, _type_name(annotation), _default(field), meaning))
    return rows


def render() -> str:
    """The Markdown reference."""
    lines = [
        "# Configuration reference",
        "",
        "Generated from `tocsin/settings.py` by `python -m tocsin.config_reference --write`;",
        "a test fails when it is stale. Values come from keyword arguments, then `TOCSIN_*`",
        "environment variables (nested keys joined with `__`), then the YAML file",
        "(`TOCSIN_CONFIG` or `$TOCSIN_HOME/tocsin.yaml`, nested keys as mappings), then the",
        "defaults below.",
        "",
    ]
    section = None
    for row in reference_rows():
        top = row.key.split(".", 1)[0] if "." in row.key else ""
        if top != section:
            section = top
            lines += ["", f"## `{top}`" if top else "## top level", ""]
            lines += ["| key | env | type | default | meaning |", "|---|---|---|---|---|"]
        meaning = row.meaning.replace("|", "\\|") or "(undocumented)"
        lines.append(f"| `{row.key}` | `{row.env}` | {row.type} | {row.default} | {meaning} |")
    return "\n".join(lines).replace("\n\n\n", "\n\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print or write docs/configuration.md.")
    parser.add_argument("--write", action="store_true", help=f"write {DOC_PATH}")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        DOC_PATH.parent.mkdir(parents=True, exist_ok=True)
        DOC_PATH.write_text(text)
        print(f"wrote {DOC_PATH}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
