"""Kubernetes rollbacks through the API server: undo a Deployment, abort an Argo Rollout.

- **Deployment** (``NAMESPACE/NAME``): what ``kubectl rollout undo`` does. The Deployment's
  ReplicaSets (owned by it, selected by its ``matchLabels``) carry the revision annotation
  ``deployment.kubernetes.io/revision``; the one with the highest revision below the current
  one holds the previous pod template, which replaces ``/spec/template`` in a JSON patch
  (its ``pod-template-hash`` label removed).
- **Argo Rollout** (``rollout/NAMESPACE/NAME``): what ``kubectl argo rollouts abort`` does:
  a merge patch ``{"status": {"abort": true}}`` on the rollout's ``status`` subresource;
  Argo then shifts all traffic back to the stable ReplicaSet.

Example
-------
>>> ex = KubernetesExecutor.from_target("rollout/prod/chat-api", "https://k8s:6443", None)
>>> ex.kind, ex.namespace, ex.name
('rollout', 'prod', 'chat-api')
>>> KubernetesExecutor.from_target("chat-api", "https://k8s:6443", None)
Traceback (most recent call last):
...
ValueError: --kubernetes takes NAMESPACE/NAME (a Deployment) or rollout/NAMESPACE/NAME (an Argo Rollout), got 'chat-api'
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import httpx

from streams.agents.deployment_agent import Outcome

REVISION = "deployment.kubernetes.io/revision"


class KubernetesExecutor:
    """Undo a Deployment's rollout or abort an Argo Rollout (see the module docstring)."""

    def __init__(
        self, kind: str, namespace: str, name: str, api_url: str, token: str | None
    ) -> None:
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.api_url = api_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    @classmethod
    def from_target(cls, target: str, api_url: str, token: str | None) -> KubernetesExecutor:
        parts = target.split("/")
        if len(parts) == 3 and parts[0] == "rollout" and all(parts):
            return cls("rollout", parts[1], parts[2], api_url, token)
        if len(parts) == 2 and all(parts):
            return cls("deployment", parts[0], parts[1], api_url, token)
        raise ValueError(
            "--kubernetes takes NAMESPACE/NAME (a Deployment) or rollout/NAMESPACE/NAME "
            f"(an Argo Rollout), got {target!r}"
        )

    def run(self, command: Mapping[str, Any], timeout_s: float) -> Outcome:
        with httpx.Client(base_url=self.api_url, headers=self._headers, timeout=timeout_s) as http:
            try:
                if self.kind == "rollout":
                    return self._abort_rollout(http)
                return self._undo_deployment(http)
            except httpx.HTTPError as exc:
                return Outcome(False, f"Kubernetes API: {type(exc).__name__}")

    def _abort_rollout(self, http: httpx.Client) -> Outcome:
        path = f"/apis/argoproj.io/v1alpha1/namespaces/{self.namespace}/rollouts/{self.name}/status"
        r = http.patch(
            path,
            json={"status": {"abort": True}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        if r.status_code >= 300:
            return Outcome(
                False, f"abort rollout {self.namespace}/{self.name}: HTTP {r.status_code}"
            )
        return Outcome(True, f"aborted Argo Rollout {self.namespace}/{self.name}")

    def _undo_deployment(self, http: httpx.Client) -> Outcome:
        base = f"/apis/apps/v1/namespaces/{self.namespace}"
        r = http.get(f"{base}/deployments/{self.name}")
        if r.status_code != 200:
            return Outcome(
                False, f"get deployment {self.namespace}/{self.name}: HTTP {r.status_code}"
            )
        dep = r.json()
        uid = dep["metadata"].get("uid")
        current = int(dep["metadata"].get("annotations", {}).get(REVISION, "0"))
        selector = ",".join(
            f"{k}={v}" for k, v in dep["spec"]["selector"].get("matchLabels", {}).items()
        )
        r = http.get(f"{base}/replicasets", params={"labelSelector": selector})
        if r.status_code != 200:
            return Outcome(False, f"list replicasets: HTTP {r.status_code}")
        older = []
        for rs in r.json().get("items", []):
            owners = rs["metadata"].get("ownerReferences", [])
            if uid and not any(o.get("uid") == uid for o in owners):
                continue
            rev = int(rs["metadata"].get("annotations", {}).get(REVISION, "0"))
            if rev < current:
                older.append((rev, rs))
        if not older:
            return Outcome(
                False, f"no previous revision of {self.namespace}/{self.name} to roll back to"
            )
        rev, rs = max(older, key=lambda x: x[0])
        template = copy.deepcopy(rs["spec"]["template"])
        template.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
        r = http.patch(
            f"{base}/deployments/{self.name}",
            json=[{"op": "replace", "path": "/spec/template", "value": template}],
            headers={"Content-Type": "application/json-patch+json"},
        )
        if r.status_code >= 300:
            return Outcome(False, f"patch deployment: HTTP {r.status_code}")
        return Outcome(True, f"rolled {self.namespace}/{self.name} back to revision {rev}")
