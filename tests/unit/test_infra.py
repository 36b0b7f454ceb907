"""The production path, checked without running it: the compose files and the kustomize
base/overlay are parsed and held against the settings model and each other."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.conftest import REPO
from tocsin.config_reference import reference_rows
from tocsin.settings import Settings

DOCKER = REPO / "infra" / "docker"
K8S = REPO / "infra" / "k8s"
SETTING_VARS = {row.env for row in reference_rows()}


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def env_file(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def pinned(image: str) -> bool:
    name, _, tag = image.rpartition(":")
    return bool(name) and bool(tag) and tag != "latest" and "/" not in tag


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = load(DOCKER / "docker-compose.yml")
    return data


def test_compose_images_pinned_ports_local_volumes_declared(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"kafka", "schema-registry", "clickhouse", "worker-0", "worker-1", "otlp"} <= set(
        services
    )
    declared = set(compose.get("volumes") or {})
    for name, svc in services.items():
        assert "image" in svc or "build" in svc, name
        if "image" in svc:
            assert pinned(svc["image"]), f"{name}: image {svc['image']} is not pinned"
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port} is open to the network"
        for volume in svc.get("volumes", []):
            source = str(volume).split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name}: volume {source} is not declared"
        for dep in svc.get("depends_on") or []:
            assert dep in services, f"{name} depends on unknown {dep}"
        if "env_file" in svc:
            assert (DOCKER / svc["env_file"]).is_file(), name
    for name in ("kafka", "schema-registry", "clickhouse", "worker-0", "worker-1", "otlp"):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_compose_environment_matches_the_settings_model(compose: dict[str, Any]) -> None:
    services = compose["services"]
    env = env_file(DOCKER / "tocsin.env")
    for name, svc in services.items():
        extra = svc.get("environment") or {}
        for key in [*env, *extra] if "env_file" in svc else list(extra):
            if key.startswith("TOCSIN_"):
                assert key in SETTING_VARS, (
                    f"{name}: {key} is not a setting (docs/configuration.md)"
                )
    settings = Settings.model_validate(
        {
            "bootstrap_servers": env["TOCSIN_BOOTSTRAP_SERVERS"],
            "clickhouse_url": env["TOCSIN_CLICKHOUSE_URL"],
            "schema_registry_url": env["TOCSIN_SCHEMA_REGISTRY_URL"],
            "topics": {"partitions": int(env["TOCSIN_TOPICS__PARTITIONS"])},
            "log_level": env["TOCSIN_LOG_LEVEL"],
        }
    )
    kafka = services["kafka"]["environment"]
    assert f"PLAINTEXT://{settings.bootstrap_servers}" in kafka["KAFKA_ADVERTISED_LISTENERS"]
    ch = urlsplit(str(settings.clickhouse_url))
    assert ch.hostname == "clickhouse" and ch.port == 8123
    assert ch.username == services["clickhouse"]["environment"]["CLICKHOUSE_USER"]
    assert "change-me" in services["clickhouse"]["environment"]["CLICKHOUSE_PASSWORD"]
    registry = urlsplit(str(settings.schema_registry_url))
    listeners = services["schema-registry"]["environment"]["SCHEMA_REGISTRY_LISTENERS"]
    assert registry.hostname == "schema-registry" and listeners.endswith(f":{registry.port}")
    registry_kafka = services["schema-registry"]["environment"][
        "SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS"
    ]
    assert registry_kafka == settings.bootstrap_servers
    # workers: distinct static ids, and the health check asks the port the worker serves
    ids = []
    for name in ("worker-0", "worker-1"):
        command = services[name]["command"]
        ids.append(command[command.index("--id") + 1])
        port = command[command.index("--web-port") + 1]
        assert f"127.0.0.1:{port}/tocsin/status" in " ".join(services[name]["healthcheck"]["test"])
    assert ids == ["worker-0", "worker-1"]
    otlp = services["otlp"]
    port = otlp["command"][otlp["command"].index("--port") + 1]
    assert otlp["ports"] == [f"127.0.0.1:{port}:{port}"]
    assert f":{port}/ping" in " ".join(otlp["healthcheck"]["test"])


def test_compose_gpu_override(compose: dict[str, Any]) -> None:
    gpu = load(DOCKER / "docker-compose.gpu.yml")
    for name, svc in gpu["services"].items():
        assert name in compose["services"], name
        assert "gpu" in svc["build"]["args"]["EXTRAS"].split(",")
        assert pinned(svc["build"]["args"]["BASE"]) and pinned(svc["image"])
        devices = svc["deploy"]["resources"]["reservations"]["devices"]
        assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
        for key in svc.get("environment", {}):
            assert key in SETTING_VARS, key


def kustomize_resources(directory: Path) -> list[dict[str, Any]]:
    """The documents a kustomization lists (its own files; bases are followed)."""
    kustomization = load(directory / "kustomization.yaml")
    docs: list[dict[str, Any]] = []
    for resource in kustomization.get("resources", []):
        path = (directory / resource).resolve()
        if path.is_dir():
            docs += kustomize_resources(path)
        else:
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in docs}


def test_kustomize_base_is_consistent() -> None:
    docs = by_kind(kustomize_resources(K8S / "base"))
    assert {
        "ConfigMap",
        "Secret",
        "Service",
        "StatefulSet",
        "PodDisruptionBudget",
        "Job",
        "ScaledObject",
    } <= set(docs)
    sts = docs["StatefulSet"]
    labels = sts["spec"]["template"]["metadata"]["labels"]
    assert sts["spec"]["selector"]["matchLabels"] == labels
    assert docs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == labels
    assert (
        docs["Service"]["spec"]["selector"] == labels
        and sts["spec"]["serviceName"] == docs["Service"]["metadata"]["name"]
    )
    worker = sts["spec"]["template"]["spec"]["containers"][0]
    assert worker["args"][:3] == ["worker", "--id", "$(POD_NAME)"]
    port = worker["args"][worker["args"].index("--web-port") + 1]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        command = " ".join(worker[probe]["exec"]["command"])
        assert f"http://127.0.0.1:{port}/tocsin/status" in command, probe
    assert worker["resources"]["requests"]["cpu"] and worker["resources"]["limits"]["memory"]
    # every TOCSIN_* variable is a setting; every secret key referenced exists
    secret_keys = set(docs["Secret"]["stringData"])
    for container in (worker, docs["Job"]["spec"]["template"]["spec"]["containers"][0]):
        for var in container["env"]:
            if var["name"].startswith("TOCSIN_"):
                assert var["name"] in SETTING_VARS, var["name"]
            ref = var.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert (
                    ref["name"] == docs["Secret"]["metadata"]["name"] and ref["key"] in secret_keys
                )
    assert docs["Job"]["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
    # the config file is valid settings, and the autoscaler watches what the workers consume
    config = yaml.safe_load(docs["ConfigMap"]["data"]["tocsin.yaml"])
    settings = Settings.model_validate(config)
    scaled = docs["ScaledObject"]["spec"]
    assert scaled["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "name": sts["metadata"]["name"],
    }
    trigger = scaled["triggers"][0]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["consumerGroup"] == settings.worker.group_id
    assert trigger["metadata"]["topic"] == settings.topics.events
    assert trigger["metadata"]["bootstrapServers"] == settings.bootstrap_servers
    assert int(trigger["metadata"]["lagThreshold"]) > 0
    assert scaled["minReplicaCount"] <= sts["spec"]["replicas"] <= scaled["maxReplicaCount"]
    assert scaled["maxReplicaCount"] <= settings.topics.partitions  # more would idle


def test_kustomize_gpu_overlay() -> None:
    overlay = load(K8S / "overlays" / "gpu" / "kustomization.yaml")
    assert overlay["resources"] == ["../../base"]
    assert overlay["images"][0]["newTag"].endswith("-gpu")
    patch = load(K8S / "overlays" / "gpu" / overlay["patches"][0]["path"])
    pod = patch["spec"]["template"]["spec"]
    assert pod["nodeSelector"] and pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    container = pod["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert all(v["name"] in SETTING_VARS for v in container["env"])


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_kustomize_renders_both() -> None:
    for directory in (K8S / "base", K8S / "overlays" / "gpu"):
        out = subprocess.run(
            ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr
        images = set(re.findall(r"image: (\S+)", out.stdout))
        assert images and all(pinned(i) for i in images), images
