"""A local stand-in for the Kubernetes API server: enough of it for snakemake-executor-plugin-kubernetes 0.5.1,
through the real ``kubernetes`` Python client, to submit jobs and poll them. Point the client at it with the
kubeconfig that ``FakeKubernetes.kubeconfig(path)`` writes (``KUBECONFIG``).

Endpoints, and the plugin calls that need them:

- ``POST /api/v1/namespaces/{ns}/secrets`` and ``DELETE .../secrets/{name}``: the secret that carries the
  environment variables the run passes to its jobs (``register_secret``, ``unregister_secret``).
- ``POST /apis/batch/v1/namespaces/{ns}/jobs``: a job submission (``create_namespaced_job``). Every body is kept in
  ``FakeKubernetes.jobs``: that is what a real cluster would have been asked to run.
- ``GET /apis/batch/v1/namespaces/{ns}/jobs/{name}/status``: ``read_namespaced_job_status``. No pod ever runs here,
  so every job is reported failed (``status.failed: 1``): the run then fails, after its submissions were made.
- ``GET /api/v1/namespaces/{ns}/pods``: ``list_namespaced_pod`` (no pods).
- ``DELETE /apis/batch/v1/namespaces/{ns}/jobs/{name}``: ``safe_delete_job``.
"""

from __future__ import annotations

import json
import re
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from local_server import LocalServer


class FakeKubernetes(LocalServer):
    def __init__(self) -> None:
        self.jobs: list[dict] = []
        self.secrets: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> dict:
                return json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")

            def do_POST(self) -> None:
                body = self._body()
                if re.fullmatch(r"/apis/batch/v1/namespaces/[^/]+/jobs", self.path.split("?")[0]):
                    server.jobs.append(body)
                elif re.fullmatch(r"/api/v1/namespaces/[^/]+/secrets", self.path.split("?")[0]):
                    server.secrets.append(body)
                else:
                    return self._answer(404, {"kind": "Status", "code": 404})
                self._answer(201, body)

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                status = re.fullmatch(r"/apis/batch/v1/namespaces/[^/]+/jobs/([^/]+)/status", path)
                if status:
                    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": status.group(1)}}
                    return self._answer(200, {**job, "status": {"failed": 1}})
                if re.fullmatch(r"/api/v1/namespaces/[^/]+/pods", path):
                    return self._answer(200, {"apiVersion": "v1", "kind": "PodList", "items": []})
                self._answer(404, {"kind": "Status", "code": 404})

            def do_DELETE(self) -> None:
                self._answer(200, {"kind": "Status", "status": "Success"})

        super().__init__(Handler)

    def kubeconfig(self, path: Path) -> Path:
        """A kubeconfig whose current context is this server (no authentication)."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": "fake"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": "default"}}],
            "current-context": "fake",
        }
        path.write_text(json.dumps(config))
        return path
