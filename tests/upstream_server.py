"""A local stand-in for raw.githubusercontent.com that serves the test mirror in the upstream layout.

``GET /{owner}/{repository}/{commit}/{path}`` returns the file that the project's
``sources.upstream_for`` maps to that repository, commit and path, read from tests/data/mirror;
anything else is a 404, as upstream answers. It lets the tests run the real download code
(``data.mirror: null``, ``data.download_url``) without internet access.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from pathlib import Path

from steering_reliability.data.sources import UPSTREAMS

from local_server import LocalServer


def mirror_path(url_path: str) -> str | None:
    """The mirror-layout path of an upstream URL path, or None if no pinned repository serves it."""
    parts = url_path.lstrip("/").split("/")
    if len(parts) < 4:
        return None
    repository, commit, inner = "/".join(parts[:2]), parts[2], "/".join(parts[3:])
    for upstream in UPSTREAMS:
        if upstream.repository == repository and upstream.commit == commit:
            folder = upstream.upstream_folder
            if folder and not inner.startswith(folder + "/"):
                return None
            return f"{upstream.mirror_folder}/{inner[len(folder) + 1 :] if folder else inner}"
    return None


class UpstreamServer(LocalServer):
    """Serves ``root`` (a mirror-layout folder) on 127.0.0.1; ``requests`` records every path asked for."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the http.server API)
                server.requests.append(self.path)
                relative = mirror_path(self.path)
                file = server.root / relative if relative else None
                if file is None or not file.is_file():
                    self.send_error(404, "Not Found")
                    return
                body = file.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        super().__init__(Handler)
