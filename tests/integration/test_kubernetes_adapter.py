"""The Kubernetes adapter against a local fake API server (apps/v1 and Argo Rollouts).

The fake checks what the real API server checks for these calls: the bearer token, the
patch content types (``application/json-patch+json`` for a JSON patch,
``application/merge-patch+json`` for the status subresource), and applies the patch.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from streams.agents.kubernetes import KubernetesExecutor

pytestmark = pytest.mark.integration

TOKEN = "k8s-token-abc"
NS, NAME = "prod", "chat-api"


def template(image: str, hash_: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": NAME, "pod-template-hash": hash_}},
        "spec": {"containers": [{"name": "api", "image": image}]},
    }


class FakeApi:
    def __init__(self) -> None:
        dep_template = template("chat:v42", "x")
        del dep_template["metadata"]["labels"]["pod-template-hash"]
        self.deployment = {
            "metadata": {
                "name": NAME,
                "uid": "dep-uid",
                "annotations": {"deployment.kubernetes.io/revision": "3"},
            },
            "spec": {"selector": {"matchLabels": {"app": NAME}}, "template": dep_template},
        }
        owner = [{"kind": "Deployment", "uid": "dep-uid"}]
        self.replicasets = [
            {
                "metadata": {
                    "annotations": {"deployment.kubernetes.io/revision": str(rev)},
                    "ownerReferences": owner,
                },
                "spec": {"template": template(image, f"h{rev}")},
            }
            for rev, image in ((1, "chat:v40"), (2, "chat:v41"), (3, "chat:v42"))
        ]
        self.replicasets.append(  # someone else's ReplicaSet with the same labels
            {
                "metadata": {
                    "annotations": {"deployment.kubernetes.io/revision": "2"},
                    "ownerReferences": [{"uid": "other"}],
                },
                "spec": {"template": template("evil:latest", "e")},
            }
        )
        self.rollout_status: dict[str, Any] = {"phase": "Progressing"}
        self.patches: list[tuple[str, str]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _reply(self, status: int, doc: Any) -> None:
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _authorized(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self._reply(401, {"kind": "Status", "reason": "Unauthorized"})
                    return False
                return True

            def do_GET(self) -> None:
                if not self._authorized():
                    return
                base = f"/apis/apps/v1/namespaces/{NS}"
                if self.path == f"{base}/deployments/{NAME}":
                    self._reply(200, api.deployment)
                elif self.path.startswith(f"{base}/replicasets?labelSelector=app%3D{NAME}"):
                    self._reply(200, {"items": api.replicasets})
                else:
                    self._reply(404, {"kind": "Status", "reason": "NotFound"})

            def do_PATCH(self) -> None:
                if not self._authorized():
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                ctype = self.headers.get("Content-Type")
                api.patches.append((self.path, str(ctype)))
                if self.path == f"/apis/apps/v1/namespaces/{NS}/deployments/{NAME}":
                    if ctype != "application/json-patch+json" or body[0]["op"] != "replace":
                        self._reply(415, {"reason": "UnsupportedMediaType"})
                        return
                    api.deployment["spec"]["template"] = copy.deepcopy(body[0]["value"])
                    self._reply(200, api.deployment)
                elif (
                    self.path
                    == f"/apis/argoproj.io/v1alpha1/namespaces/{NS}/rollouts/{NAME}/status"
                ):
                    if ctype != "application/merge-patch+json":
                        self._reply(415, {"reason": "UnsupportedMediaType"})
                        return
                    api.rollout_status.update(body["status"])
                    self._reply(200, {"status": api.rollout_status})
                else:
                    self._reply(404, {"reason": "NotFound"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()
    yield fake
    fake.server.shutdown()


def test_undo_deployment_goes_back_one_revision(api: FakeApi) -> None:
    ex = KubernetesExecutor.from_target(f"{NS}/{NAME}", api.url, TOKEN)
    outcome = ex.run({"command_id": "c1"}, 5.0)
    assert outcome.ok, outcome.detail
    assert "revision 2" in outcome.detail
    tpl = api.deployment["spec"]["template"]
    assert tpl["spec"]["containers"][0]["image"] == "chat:v41"
    assert "pod-template-hash" not in tpl["metadata"]["labels"]


def test_abort_argo_rollout(api: FakeApi) -> None:
    ex = KubernetesExecutor.from_target(f"rollout/{NS}/{NAME}", api.url, TOKEN)
    assert ex.run({"command_id": "c1"}, 5.0).ok
    assert api.rollout_status["abort"] is True
    assert api.patches == [
        (
            f"/apis/argoproj.io/v1alpha1/namespaces/{NS}/rollouts/{NAME}/status",
            "application/merge-patch+json",
        )
    ]


def test_failures_are_reported_not_raised(api: FakeApi) -> None:
    assert not KubernetesExecutor.from_target(f"{NS}/{NAME}", api.url, "wrong").run({}, 5.0).ok
    missing = KubernetesExecutor.from_target(f"{NS}/nope", api.url, TOKEN).run({}, 5.0)
    assert not missing.ok and "HTTP 404" in missing.detail
    down = KubernetesExecutor.from_target(f"{NS}/{NAME}", "http://127.0.0.1:9", TOKEN).run({}, 2.0)
    assert not down.ok and "ConnectError" in down.detail
    api.deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "1"
    first = KubernetesExecutor.from_target(f"{NS}/{NAME}", api.url, TOKEN).run({}, 5.0)
    assert not first.ok and "no previous revision" in first.detail
