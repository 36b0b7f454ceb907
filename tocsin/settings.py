"""The one settings model of tocsin (DESIGN.md convention 7).

Values come, highest priority first, from keyword arguments, ``TOCSIN_*`` environment
variables (nested fields with ``__``, e.g. ``TOCSIN_TOPICS__PARTITIONS=8``), a YAML file
(``TOCSIN_CONFIG=/path/tocsin.yaml`` or ``$TOCSIN_HOME/tocsin.yaml``), then the defaults
below. Nothing else in tocsin reads ``os.environ``.

Example
-------
>>> s = Settings(home="/tmp/tocsin-doc")
>>> s.embedded_broker, s.topics.events
(True, 'tocsin.events.v1')
>>> str(s.chdb_path)
'/tmp/tocsin-doc/clickhouse'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)


class TopicSettings(BaseModel):
    """Kafka topic names, partitions and retention caps."""

    events: str = "tocsin.events.v1"
    dlq: str = "tocsin.dlq.v1"
    alerts: str = "tocsin.alerts.v1"
    rollback: str = "tocsin.rollback.v1"
    rollback_acks: str = "tocsin.rollback-acks.v1"
    state: str = "tocsin.worker-state.v1"
    partitions: int = Field(4, ge=1)
    replication_factor: int = Field(1, ge=1)
    # The embedded broker snapshots its whole state as one JSON file (~3.3x the payload) and
    # rewrites it after commits: cap every topic. retention.bytes (per partition) only drops
    # whole segments, so segment.bytes must be small next to it. These defaults are the ones
    # measured on noida-db (STACK.md); raise them for a real Kafka cluster.
    retention_ms: int = Field(3600 * 1000, ge=1000)
    retention_bytes: int = Field(32 * 1024 * 1024, ge=1024 * 1024)
    segment_bytes: int = Field(4 * 1024 * 1024, ge=1024 * 1024)

    def as_dict(self) -> dict[str, str]:
        """Logical name -> topic name, for status output."""
        return {
            "events": self.events,
            "dlq": self.dlq,
            "alerts": self.alerts,
            "rollback": self.rollback,
            "rollback_acks": self.rollback_acks,
        }


class WorkerSettings(BaseModel):
    """The monitor worker's batch consumer."""

    count: int = Field(1, ge=1, description="workers started by `tocsin up`")
    batch_size: int = Field(10_000, ge=1)
    poll_timeout_s: float = Field(0.5, gt=0)
    commit_interval_s: float = Field(2.0, ge=0)
    max_message_bytes: int = Field(1_048_576, ge=1024)
    dlq_max_ratio: float = Field(0.5, gt=0, le=1, description="stop when more are bad")
    dlq_min_messages: int = Field(1000, ge=1, description="window before the ratio counts")
    insert_retry_max_s: float = Field(30.0, gt=0, description="backoff cap")
    web_port_base: int = Field(0, ge=0, description="0 = pick a free port")
    group_id: str = "tocsin-monitor"
    ready_timeout_s: float = Field(90.0, gt=0, description="`tocsin up` waits this long")
    stop_timeout_s: float = Field(20.0, gt=0, description="SIGTERM grace before SIGKILL")


class PiiSettings(BaseModel):
    """PII detection and redaction (see detectors.pii)."""

    enabled: bool = True
    entities: list[str] | None = None  # None = all supported
    allow_list: list[str] = Field(default_factory=list)
    custom_patterns: dict[str, str] = Field(default_factory=dict)
    mode: Literal["replace", "hash", "drop"] = "replace"
    hmac_key: SecretStr = SecretStr("tocsin-default-key-change-me")  # used by mode=hash
    max_chars: int = Field(1_000_000, ge=1)  # scanned prefix; the rest is cut from the output
    store_raw: bool = False  # store unredacted text in ClickHouse only when asked
    ner: bool = True  # PERSON/LOCATION through the ONNX NER bundle; `pii.ner: off` = patterns only
    ner_model_dir: Path | None = None  # None = the NER bundle shipped with tocsin
    ner_providers: list[str] | None = None  # None = CUDA when available, else CPU
    ner_batch_size: int = Field(256, ge=1, description="rows per NER ONNX run, length-bucketed")
    ner_threads: int = Field(1, ge=1, description="threads of the NER ONNX session")
    ner_max_chars: int = Field(100_000, ge=1, description="prefix of a text read by the NER")


class ToxicitySettings(BaseModel):
    """Toxicity scoring through ONNX Runtime (see detectors.toxicity)."""

    enabled: bool = True
    model_dir: Path | None = None  # None = the bundle shipped with tocsin
    batch_size: int = Field(64, ge=1, description="texts per ONNX run, after length bucketing")
    max_wait_ms: float = Field(5.0, ge=0, description="micro-batcher wait for single texts")
    providers: list[str] | None = None  # None = CUDA when available, else CPU
    threshold: float = Field(0.5, ge=0, le=1)
    intra_op_threads: int = Field(1, ge=1, description="threads per ONNX session")
    member_threads: int = Field(1, ge=1, description="ensemble members run concurrently")
    prefer_fp16: bool = True  # use a bundle's fp16 model on CUDA
    chunk_chars: int = Field(
        300,
        ge=0,
        description="worker: score responses in sentence-aligned chunks of this many "
        "characters and keep the maximum (a rude sentence in a long answer is not averaged "
        "away); 0 = score whole texts (faster, misses embedded insults)",
    )

    sampling: Literal["auto", "always", "ratio"] = Field(
        "auto",
        description="worker: `auto` scores every answer while the worker keeps up and a "
        "weighted sample when it falls behind; `always` scores every answer; `ratio` scores "
        "`sampling_ratio` of them",
    )
    sampling_ratio: float = Field(1.0, gt=0, le=1, description="share scored in `ratio` mode")
    canary_min_ratio: float = Field(
        1.0, gt=0, le=1, description="share of canary answers scored, whatever the mode"
    )
    sampling_max_share: float = Field(
        0.5, gt=0, lt=1, description="`auto`: most of the worker's time spent scoring when behind"
    )
    sampling_behind_records: int = Field(
        20_000, ge=0, description="`auto`: consumer lag above which the worker samples"
    )

    def scorer_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``detectors.toxicity.ToxicityScorer(model_dir, **kwargs)``.

        >>> ToxicitySettings(batch_size=128).scorer_kwargs()["batch_size"]
        128
        """
        return {
            "providers": self.providers,
            "intra_op_threads": self.intra_op_threads,
            "batch_size": self.batch_size,
            "prefer_fp16": self.prefer_fp16,
            "member_threads": self.member_threads,
        }


class DriftSettings(BaseModel):
    """Online drift detection (see detectors.drift).

    Defaults equal the calibrated detector defaults (a unit test checks it);
    ``tocsin drift calibrate`` prints a ``drift:`` block to paste here.
    """

    enabled: bool = True
    detector: Literal["auto", "cusum", "adwin", "page_hinkley", "kswin"] = "auto"
    idle_evict_s: float = Field(3600.0, ge=0, description="event-time idleness; 0 = never")
    max_keys: int = Field(10_000, ge=1, description="per signal; more are refused and counted")
    # The default (cusum) detector: threshold/allowance in standard deviations.
    threshold: float = Field(60.0, gt=0)
    allowance: float = Field(0.07, ge=0)
    block_size: int = Field(32, ge=1)
    warmup: int = Field(5_000, ge=1)
    reference_size: int = Field(20_000, ge=2)
    signal_thresholds: dict[str, float] = Field(
        default_factory=dict, description="per-signal thresholds from `tocsin drift calibrate`"
    )
    # Categorical signals (language, template, finish reason, error type, prompt signature).
    categorical_reference_size: int = Field(5_000, ge=1)
    categorical_window_size: int = Field(1_000, ge=1)
    categorical_alpha: float = Field(1e-6, gt=0, lt=1)
    categorical_min_psi: float = Field(0.05, ge=0)
    categorical_buckets: int = Field(64, ge=2)


#: The example SLO spec of a source checkout (absent from a wheel install).
EXAMPLE_SLO_SPEC = Path(__file__).resolve().parents[1] / "infra" / "config" / "slos.yaml"


class SloSettings(BaseModel):
    """SLO specs and burn-rate evaluation (see detectors.slo)."""

    enabled: bool = True
    spec_file: Path | None = None  # None = infra/config/slos.yaml when present
    # A minute is evaluated once events this many minutes newer have been seen; events
    # for evaluated minutes still count (inside the longest window) but never re-alert.
    lateness_minutes: int = Field(1, ge=0, le=60)
    # Without traffic event time stands still: the worker advances the evaluators with
    # the wall clock (minus lateness) after this many idle seconds, so alerts resolve.
    idle_advance_s: float = Field(120.0, gt=0)

    def resolved_spec_file(self, repo_default: Path = EXAMPLE_SLO_SPEC) -> Path:
        """The spec file to load: ``spec_file`` or the repository example."""
        return self.spec_file if self.spec_file is not None else repo_default

    def spec_path(self, repo_default: Path = EXAMPLE_SLO_SPEC) -> Path | None:
        """The spec file the worker applies: ``spec_file`` (which must exist), else the
        example of the checkout tocsin runs from (``infra/config/slos.yaml``, wherever the
        command is started) when it is there, else None (zero-config defaults only).

        >>> SloSettings().spec_path(Path("/nonexistent/slos.yaml")) is None
        True
        """
        if self.spec_file is not None:
            return self.spec_file
        return repo_default if repo_default.is_file() else None


class CanarySettings(BaseModel):
    """Canary vs stable comparison (see detectors.canary)."""

    enabled: bool = True
    window_minutes: int = Field(30, ge=1, description="event-time window compared each minute")
    min_samples: int = Field(200, ge=1, description="events per track before pass or fail")
    alpha: float = Field(
        0.01, gt=0, lt=1, description="chance that a healthy canary ever fails, all looks"
    )
    min_error_delta: float = Field(0.01, ge=0, description="error ratio margin to fail")
    min_pii_delta: float = Field(0.002, ge=0, description="PII-leak ratio margin to fail")
    min_toxic_delta: float = Field(0.01, ge=0, description="toxic ratio margin to fail")
    latency_ratio: float = Field(1.25, ge=1, description="p50 or p95 ratio to fail on latency")


class Settings(BaseSettings):
    """All of tocsin's configuration."""

    model_config = SettingsConfigDict(
        env_prefix="TOCSIN_", env_nested_delimiter="__", extra="ignore"
    )

    home: Path = Path(".tocsin")
    config: Path | None = None
    bootstrap_servers: str | None = None  # None = embedded noida-db broker
    schema_registry_url: str | None = None
    clickhouse_url: str | None = None  # None = embedded chdb under home/clickhouse
    clickhouse_database: str = "tocsin"
    clickhouse_cluster: str | None = None
    clickhouse_ttl_days: int | None = Field(
        None, ge=1, description="events TTL in days, set at table creation; None = keep"
    )
    clickhouse_migrations_dir: Path | None = None  # None = infra/clickhouse/migrations
    log_level: Literal["debug", "info", "warn", "error"] = "warn"
    topics: TopicSettings = TopicSettings()
    worker: WorkerSettings = WorkerSettings()
    pii: PiiSettings = PiiSettings()
    toxicity: ToxicitySettings = ToxicitySettings()
    drift: DriftSettings = DriftSettings()
    slo: SloSettings = SloSettings()
    canary: CanarySettings = CanarySettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))

    @property
    def embedded_broker(self) -> bool:
        return not self.bootstrap_servers

    @property
    def embedded_clickhouse(self) -> bool:
        return not self.clickhouse_url

    @property
    def home_abs(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def chdb_path(self) -> Path:
        return self.home_abs / "clickhouse"

    @property
    def run_dir(self) -> Path:
        return self.home_abs / "run"


class _YamlSource(PydanticBaseSettingsSource):
    """Reads the optional YAML file named by TOCSIN_CONFIG or found at $TOCSIN_HOME/tocsin.yaml."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("TOCSIN_CONFIG")
        if not path:
            home = Path(os.environ.get("TOCSIN_HOME", ".tocsin")).expanduser()
            candidate = home / "tocsin.yaml"
            path = str(candidate) if candidate.is_file() else None
        if not path:
            return {}
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"TOCSIN_CONFIG={path}: no such file")
        data = yaml.safe_load(p.read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping at the top level")
        return data


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from keyword overrides, environment and YAML file.

    >>> load_settings(home="/tmp/x").home
    PosixPath('/tmp/x')
    """
    return Settings(**overrides)
