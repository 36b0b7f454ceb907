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
    linger_s: float = Field(0.05, ge=0)
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
    # PERSON/LOCATION through the ONNX NER bundle. Off by default: the shipped model still
    # flags words of logs and code as names (148 of the shared vectors' texts over-redacted)
    # and is ~25x slower than the patterns on the CPU (README, PII).
    ner: bool = False
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
        0.1,
        gt=0,
        le=1,
        description="least share of canary answers scored, whatever the mode (1.0: every one, "
        "even when that alone slows a worker that is behind)",
    )
    sampling_max_share: float = Field(
        0.1,
        gt=0,
        lt=1,
        description="`auto`: most of the worker's time spent scoring when behind (the canary "
        "floor may take more)",
    )
    sampling_behind_records: int = Field(
        20_000, ge=0, description="`auto`: consumer lag above which the worker samples"
    )
    sampling_behind_s: float = Field(
        0.5,
        gt=0,
        description="`auto`: the worker samples when its lag holds more than this many seconds "
        "of work (lag x measured cost per event): alerts are never later than the lag",
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


class ReceiverSettings(BaseModel):
    """One named receiver of alert notifications (see ``infra/config/routing.yaml``).

    Secrets (webhook URLs, routing keys) are never written in the YAML itself: name an
    environment variable (``*_env``) or a file (``*_file``) that holds them.
    """

    type: Literal["slack", "pagerduty", "webhook"]
    url: str | None = None  # PagerDuty endpoint, or a webhook URL that is not a secret
    url_env: str | None = None  # environment variable holding the (secret) URL
    url_file: Path | None = None
    routing_key_env: str | None = None  # PagerDuty
    routing_key_file: Path | None = None
    headers: dict[str, str] = Field(default_factory=dict)  # generic webhook

    def resolve_url(self) -> str | None:
        """The receiver's URL: ``url_env``'s value, ``url_file``'s content, else ``url``."""
        return _secret_value(self.url_env, self.url_file) or self.url

    def resolve_routing_key(self) -> str | None:
        """PagerDuty routing key from ``routing_key_env`` or ``routing_key_file``."""
        return _secret_value(self.routing_key_env, self.routing_key_file)


class RouteSettings(BaseModel):
    """One routing rule: which alerts go to which receivers (first match wins unless
    ``continue_matching``)."""

    match: dict[str, str] = Field(
        default_factory=dict,
        description="kind, severity, service, deployment, rule, state or any label -> value",
    )
    receivers: list[str] = Field(default_factory=list)
    continue_matching: bool = False


class AlertingSettings(BaseModel):
    """Alert routing and notification (streams.agents.alerter, sinks.slack/pagerduty/webhook).

    The quick start needs no YAML: ``TOCSIN_ALERTING__SLACK_WEBHOOK_URL`` sends every alert to
    Slack, ``TOCSIN_ALERTING__PAGERDUTY_ROUTING_KEY`` every page to PagerDuty.
    """

    enabled: bool = Field(True, description="run the alerter in the workers")
    slack_webhook_url: SecretStr | None = Field(
        None, description="Slack incoming webhook: every alert goes there"
    )
    slack_signing_secret: SecretStr | None = Field(
        None, description="Slack app signing secret: enables the message buttons"
    )
    pagerduty_routing_key: SecretStr | None = Field(
        None, description="PagerDuty Events v2 routing key: every page goes there"
    )
    pagerduty_url: str = Field(
        "https://events.pagerduty.com/v2/enqueue", description="Events API v2 endpoint"
    )
    webhook_url: SecretStr | None = Field(None, description="generic JSON webhook, every alert")
    routing_file: Path | None = Field(
        None, description="YAML receivers and routes (infra/config/routing.yaml)"
    )
    receivers: dict[str, ReceiverSettings] = Field(
        default_factory=dict, description="named receivers (inline; see routing_file)"
    )
    routes: list[RouteSettings] = Field(
        default_factory=list, description="routing rules (inline; see routing_file)"
    )
    group_by: list[str] = Field(
        default_factory=lambda: ["rule", "deployment"], description="one incident per these"
    )
    repeat_interval_s: float = Field(4 * 3600.0, ge=0, description="0 = never repeat")
    resolve_timeout_s: float = Field(
        3600.0,
        ge=0,
        description="a drift incident (a detection has no end of its own) is resolved after "
        "this long without a new detection; 0 = never",
    )
    grafana_url: str | None = Field(None, description="dashboard link in messages")
    delivery_timeout_s: float = Field(10.0, gt=0, description="per HTTP attempt")
    delivery_max_elapsed_s: float = Field(120.0, gt=0, description="retry budget per message")
    delivery_base_delay_s: float = Field(0.5, gt=0, description="first retry backoff")
    delivery_max_delay_s: float = Field(30.0, gt=0, description="longest retry backoff")
    silence_refresh_s: float = Field(5.0, gt=0, description="silences re-read this often")
    history_days: int = Field(7, ge=1, description="incident history loaded at start")

    def routing(self) -> tuple[dict[str, ReceiverSettings], list[RouteSettings]]:
        """Receivers and routes: ``routing_file``, then inline ones, then the quick start.

        The quick start adds receiver ``slack`` (every alert) when ``slack_webhook_url`` is
        set, ``pagerduty`` (every page) when ``pagerduty_routing_key`` is set and ``webhook``
        (every alert) when ``webhook_url`` is set, unless receivers of those names exist.

        >>> a = AlertingSettings(pagerduty_routing_key="x" * 32)
        >>> receivers, routes = a.routing()
        >>> sorted(receivers), [(r.match, r.receivers) for r in routes]
        (['pagerduty'], [({'severity': 'page'}, ['pagerduty'])])
        """
        receivers: dict[str, ReceiverSettings] = {}
        routes: list[RouteSettings] = []
        if self.routing_file is not None:
            data = yaml.safe_load(Path(self.routing_file).read_text()) or {}
            if not isinstance(data, dict):
                raise ValueError(f"{self.routing_file}: expected a mapping with receivers/routes")
            for name, spec in (data.get("receivers") or {}).items():
                receivers[str(name)] = ReceiverSettings.model_validate(spec)
            routes += [RouteSettings.model_validate(r) for r in data.get("routes") or []]
            if data.get("group_by"):
                self.group_by = [str(x) for x in data["group_by"]]
        receivers.update(self.receivers)
        routes += list(self.routes)
        quick: list[RouteSettings] = []
        if self.pagerduty_routing_key is not None and "pagerduty" not in receivers:
            receivers["pagerduty"] = ReceiverSettings(type="pagerduty", url=self.pagerduty_url)
            quick.append(
                RouteSettings(
                    match={"severity": "page"}, receivers=["pagerduty"], continue_matching=True
                )
            )
        for name, secret in (("slack", self.slack_webhook_url), ("webhook", self.webhook_url)):
            if secret is not None and name not in receivers:
                receivers[name] = ReceiverSettings(type=name)  # type: ignore[arg-type]
                quick.append(RouteSettings(receivers=[name], continue_matching=True))
        # the quick-start routes come first and continue, so YAML routes still apply
        return receivers, quick + routes

    def secret_for(self, name: str, receiver: ReceiverSettings) -> str | None:
        """The URL (Slack, webhook) or routing key (PagerDuty) of a receiver."""
        if receiver.type == "pagerduty":
            key = receiver.resolve_routing_key()
            if key is None and name == "pagerduty" and self.pagerduty_routing_key is not None:
                key = self.pagerduty_routing_key.get_secret_value()
            return key
        url = receiver.resolve_url()
        if url is None and name == "slack" and self.slack_webhook_url is not None:
            url = self.slack_webhook_url.get_secret_value()
        if url is None and name == "webhook" and self.webhook_url is not None:
            url = self.webhook_url.get_secret_value()
        return url


class RollbackSettings(BaseModel):
    """Rollback policy, command signing and the deployment agent."""

    enabled: bool = Field(True, description="the global kill switch")
    dry_run: bool = Field(False, description="record what would be done, publish nothing")
    on_tracks: list[str] = Field(
        default_factory=lambda: ["canary"], description="tracks whose pages roll back"
    )
    on_kinds: list[str] = Field(
        default_factory=lambda: ["slo", "canary"], description="alert kinds that roll back"
    )
    deployments: list[str] = Field(
        default_factory=list, description="extra deployments always eligible (e.g. a stable one)"
    )
    cooldown_s: float = Field(900.0, ge=0, description="per deployment")
    command_ttl_s: float = Field(900.0, gt=0, description="expires_at = issue time + this")
    signing_key: SecretStr | None = Field(None, description="HMAC key commands are signed with")
    signing_key_file: Path | None = Field(None, description="file holding the signing key")
    key_id: str = Field("k1", description="id of the signing key (rotation)")
    verify_keys: dict[str, SecretStr] = Field(
        default_factory=dict, description="key_id -> key accepted by agents (rotation)"
    )
    agent_timeout_s: float = Field(60.0, gt=0, description="hook timeout")
    agent_state_dir: Path | None = Field(None, description="agent ledgers; None = home/agents")
    kubernetes_url: str | None = Field(None, description="API server for `agent --kubernetes`")
    kubernetes_token_file: Path | None = Field(None, description="bearer token for it")

    def local_key_path(self, home: Path) -> Path:
        """Where the embedded stack keeps a generated signing key when none is configured."""
        return home / "secrets" / "rollback-signing.key"

    def signing_key_bytes(self, home: Path | None = None) -> bytes | None:
        """The key commands are signed with: ``signing_key``, ``signing_key_file``, else the
        embedded stack's generated key file under ``home`` when it exists."""
        if self.signing_key is not None:
            return self.signing_key.get_secret_value().encode()
        if self.signing_key_file is not None:
            return Path(self.signing_key_file).read_text().strip().encode()
        if home is not None:
            local = self.local_key_path(home)
            if local.is_file():
                return local.read_text().strip().encode()
        return None

    def keyring(self, home: Path | None = None) -> dict[str, bytes]:
        """key_id -> key that agents accept: ``verify_keys`` plus the signing key.

        >>> RollbackSettings(signing_key="s" * 32, key_id="k2",
        ...                  verify_keys={"k1": "o" * 32}).keyring().keys()
        dict_keys(['k1', 'k2'])
        """
        keys = {k: v.get_secret_value().encode() for k, v in self.verify_keys.items()}
        own = self.signing_key_bytes(home)
        if own is not None:
            keys[self.key_id] = own
        return keys


class FaultSettings(BaseModel):
    """Test-only fault injection: the worker kills itself (SIGKILL) at a point of its commit path.

    ``crash_at`` names the point (``streams.crash_points.POINTS``): ``after_insert`` (a batch
    is in ClickHouse, its offsets are not committed) or ``after_commit`` (offsets committed,
    the next batch not yet inserted); ``crash_after`` is which time that point is reached.
    Empty = off (the default; production never sets it). Used by the end-to-end test of
    commit-after-write: ``TOCSIN_FAULTS__CRASH_AT=after_insert``.
    """

    crash_at: Literal["", "after_insert", "after_commit"] = ""
    crash_after: int = Field(1, ge=1)


class OtlpSettings(BaseModel):
    """The OTLP/HTTP receiver for OpenTelemetry GenAI spans (see streams.otlp)."""

    enabled: bool = Field(True, description="`tocsin up` starts the receiver")
    host: str = Field("127.0.0.1", description="bind address of `tocsin otlp`")
    port: int = Field(
        4318, ge=0, le=65535, description="`tocsin otlp` port; `tocsin up` picks a free one"
    )
    join_wait_s: float = Field(
        2.0, ge=0, description="how long a span without an answer waits for its log records"
    )
    max_pending: int = Field(10_000, ge=1, description="spans and log groups held at most")
    max_body_bytes: int = Field(32 * 1024 * 1024, ge=1024, description="largest request")
    deployment_attribute: str = Field(
        "deployment.name",
        description="resource attribute naming the deployment; else service.name-service.version",
    )
    track_attribute: str = Field(
        "tocsin.track", description="resource attribute naming the track (stable, canary...)"
    )
    default_track: Literal["stable", "canary", "shadow", "baseline"] = "stable"


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
    faults: FaultSettings = FaultSettings()
    otlp: OtlpSettings = OtlpSettings()
    alerting: AlertingSettings = AlertingSettings()
    rollback: RollbackSettings = RollbackSettings()

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


def _secret_value(env_name: str | None, file: Path | None) -> str | None:
    """A secret from the environment variable ``env_name`` or the file ``file``."""
    if env_name:
        value = os.environ.get(env_name)
        if value:
            return value.strip()
    if file is not None:
        return Path(file).read_text().strip() or None
    return None


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from keyword overrides, environment and YAML file.

    >>> load_settings(home="/tmp/x").home
    PosixPath('/tmp/x')
    """
    return Settings(**overrides)
