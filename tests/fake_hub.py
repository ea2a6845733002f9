"""A local stand-in for the Hugging Face hub: enough of it for huggingface_hub 2.4.0 to resolve a revision and
download a model repo over plain HTTP. Point the real client at it with ``HF_ENDPOINT=<FakeHub.url>``.

Each ``Repo`` is a local folder served at one commit (40 hex digits); its branches (``main`` by default) resolve
to that commit, the commit itself resolves to itself, any other revision is not found. Endpoints, and the client
calls that need them:

- ``GET /api/models/{repo_id}`` and ``GET /api/models/{repo_id}/revision/{revision}``: ``HfApi.model_info`` and
  ``repo_info`` (which ``snapshot_download`` calls when given a branch or tag). The answer holds ``sha``, the commit
  the revision resolves to, and ``siblings``: ``rfilename`` only, or with ``?blobs=true`` (``files_metadata=True``)
  also ``size``, ``blobId`` (the git object id) and, for LFS files, ``lfs`` with ``sha256``, ``size`` and
  ``pointerSize``.
- ``GET /api/models/{repo_id}/tree/{revision}[/{folder}]`` (``?recursive=true``): ``HfApi.list_repo_tree``, which
  ``snapshot_download`` calls to list the files it then filters with ``allow_patterns``. Entries: ``type``,
  ``path``, ``oid``, ``size`` and, for LFS files, ``lfs`` (``oid`` is the sha256, ``size``, ``pointerSize``).
- ``HEAD`` and ``GET /{repo_id}/resolve/{revision}/{filename}``: ``hf_hub_download``'s metadata request and the
  download itself. Headers: ``X-Repo-Commit`` (required: without it the client refuses the endpoint), ``ETag``
  (the git object id), ``Content-Length``, and for LFS files ``X-Linked-Etag`` (the sha256, which names the blob in
  the client's cache) and ``X-Linked-Size``. The hub answers an LFS file with a 302 to its CDN carrying those
  headers; here the file is served directly with the same headers, which huggingface_hub treats alike (it follows
  a redirect only on the same host, and then wants ``X-Repo-Commit`` from the target).

Plain HTTP, never Xet: hf_xet is installed, and huggingface_hub downloads through Xet when a HEAD answer carries
``X-Xet-Hash`` and a refresh route, or a tree entry a ``xetHash``; this server sends neither, so every file comes
through the GET above. Errors carry the ``X-Error-Code`` the client maps to its exceptions: ``RepoNotFound``
(RepositoryNotFoundError), ``RevisionNotFound`` (RevisionNotFoundError), ``EntryNotFound`` (RemoteEntryNotFoundError).
Datasets: a ``Repo`` with ``repo_type="dataset"`` is served at the same endpoints under ``/api/datasets/`` and
``/datasets/{repo_id}/resolve/...`` (what ``HfApi.dataset_info`` and ``snapshot_download(repo_type="dataset")`` call).
A ``gated`` repo answers every request with 403 and ``X-Error-Code: GatedRepo`` (GatedRepoError): what the hub
answers a client whose token has not been granted access.

Not implemented: pagination (one page), Range requests (a resumed download gets the whole file again, which the
client handles), authentication and spaces; anything else is a plain 404.

Every request is recorded in ``FakeHub.requests`` (a ``Request``), so a test can tell which files were downloaded.
A file is LFS-tracked when its suffix is one of ``LFS_SUFFIXES`` (what a repo's .gitattributes usually lists).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from local_server import LocalServer

LFS_SUFFIXES = (".safetensors", ".bin", ".gguf", ".onnx", ".pt", ".pth", ".h5", ".msgpack")
CHUNK = 1 << 20


def _git_object_id(kind: str, data: bytes) -> str:
    return hashlib.sha1(f"{kind} {len(data)}\0".encode() + data).hexdigest()


@dataclass(frozen=True)
class ServedFile:
    path: str  # in the repo, "/"-separated
    local: Path
    size: int
    blob_id: str  # the git object id: of the file, or of its LFS pointer
    sha256: str | None  # LFS files only
    pointer_size: int | None  # LFS files only

    @classmethod
    def scan(cls, path: str, local: Path) -> ServedFile:
        size = local.stat().st_size
        if not path.endswith(LFS_SUFFIXES):
            return cls(path, local, size, _git_object_id("blob", local.read_bytes()), None, None)
        with local.open("rb") as handle:
            sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
        pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()
        return cls(path, local, size, _git_object_id("blob", pointer), sha256, len(pointer))


@dataclass
class Repo:
    """A model (or dataset) repo: the files under ``folder`` (symbolic links followed) at ``commit``."""

    repo_id: str
    folder: Path
    commit: str
    branches: tuple[str, ...] = ("main",)  # the first is the default branch
    repo_type: str = "model"  # or "dataset"
    gated: bool = False
    files: dict[str, ServedFile] = field(init=False)
    folders: list[str] = field(init=False)

    def __post_init__(self):
        paths = sorted(path for path in Path(self.folder).rglob("*") if path.is_file())
        self.files = {
            path.relative_to(self.folder).as_posix(): ServedFile.scan(path.relative_to(self.folder).as_posix(), path)
            for path in paths
        }
        self.folders = sorted({parent for name in self.files for parent in _parents(name)})

    def resolve(self, revision: str | None) -> str | None:
        """The commit ``revision`` names (None: the default branch), or None when there is no such revision."""
        if revision is None or revision in self.branches or revision == self.commit:
            return self.commit
        return None

    def info(self, commit: str, blobs: bool) -> dict:
        siblings = []
        for file in self.files.values():
            sibling = {"rfilename": file.path}
            if blobs:
                sibling.update(size=file.size, blobId=file.blob_id)
                if file.sha256:
                    sibling["lfs"] = {"sha256": file.sha256, "size": file.size, "pointerSize": file.pointer_size}
            siblings.append(sibling)
        author = self.repo_id.split("/")[0]
        return {
            "id": self.repo_id,
            "modelId": self.repo_id,
            "author": author,
            "sha": commit,
            "private": False,
            "gated": False,
            "disabled": False,
            "tags": [],
            "siblings": siblings,
        }

    def tree(self, folder: str, recursive: bool) -> list[dict]:
        prefix = f"{folder}/" if folder else ""

        def listed(path: str) -> bool:
            return path.startswith(prefix) and (recursive or "/" not in path[len(prefix) :])

        entries = [
            {"type": "directory", "oid": _git_object_id("tree", name.encode()), "size": 0, "path": name}
            for name in self.folders
            if listed(name)
        ]
        for file in self.files.values():
            if listed(file.path):
                entry = {"type": "file", "oid": file.blob_id, "size": file.size, "path": file.path}
                if file.sha256:
                    entry["lfs"] = {"oid": file.sha256, "size": file.size, "pointerSize": file.pointer_size}
                entries.append(entry)
        return entries


def _parents(path: str) -> list[str]:
    parts = path.split("/")[:-1]
    return ["/".join(parts[: index + 1]) for index in range(len(parts))]


@dataclass(frozen=True)
class Request:
    method: str  # "GET" or "HEAD"
    path: str  # as sent (percent-encoded), without the query
    endpoint: str  # "info", "tree", "resolve", or "unknown"
    repo_id: str | None
    repo_type: str | None  # "model" or "dataset"
    revision: str | None  # as asked (None: the default branch)
    filename: str | None  # resolve: the file; tree: the folder ("" or None for the top)


class FakeHub(LocalServer):
    """A threaded HTTP server on 127.0.0.1 (a free port) serving ``repos``; use it as a context manager."""

    def __init__(self, repos: list[Repo]):
        self.repos = {(repo.repo_type, repo.repo_id): repo for repo in repos}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        super().__init__(type("Handler", (_Handler,), {"hub": self}))

    def parse(self, method: str, path: str) -> Request:
        """What a request path asks for: ``/api/{models,datasets}/{repo_id}[/revision/{rev}|/tree/{rev}[/{folder}]]``
        or ``[/datasets]/{repo_id}/resolve/{rev}/{filename}``. The revision is percent-encoded with no safe character,
        so it holds no "/"; repo ids not served are taken to be ``namespace/name``."""
        for prefix, repo_type, api in (
            ("/api/models/", "model", True),
            ("/api/datasets/", "dataset", True),
            ("/datasets/", "dataset", False),
            ("/", "model", False),
        ):
            if path.startswith(prefix):
                break
        rest = path[len(prefix) :]
        served = [name for kind, name in self.repos if kind == repo_type]
        repo_id = next((name for name in served if rest == name or rest.startswith(name + "/")), None)
        repo_id = repo_id or "/".join(rest.split("/")[:2])
        kind, revision, tail = (rest[len(repo_id) :].split("/", 3)[1:] + [None] * 3)[:3]
        if api and kind is None:
            endpoint = "info"
        elif api and kind == "revision" and revision and tail is None:
            endpoint = "info"
        elif api and kind == "tree" and revision:
            endpoint = "tree"
        elif not api and kind == "resolve" and revision and tail:
            endpoint = "resolve"
        else:
            return Request(method, path, "unknown", None, None, None, None)
        return Request(
            method, path, endpoint, repo_id, repo_type, revision and unquote(revision), tail and unquote(tail)
        )

    def record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the hub: every answer has a Content-Length
    hub: FakeHub

    def do_GET(self):
        self._answer(body=True)

    def do_HEAD(self):
        self._answer(body=False)

    def log_message(self, format, *args):  # quiet: the requests are recorded instead
        pass

    def _answer(self, body: bool) -> None:
        url = urlsplit(self.path)
        query = {key: values[-1].lower() for key, values in parse_qs(url.query).items()}
        request = self.hub.parse(self.command, url.path)
        self.hub.record(request)
        if request.endpoint == "unknown":
            return self._error(404, None, "Not implemented by the fake hub", body)
        repo = self.hub.repos.get((request.repo_type, request.repo_id))
        if repo is None:
            return self._error(404, "RepoNotFound", "Repository not found", body)
        if repo.gated:
            return self._error(403, "GatedRepo", f"Access to {request.repo_type} {repo.repo_id} is restricted", body)
        commit = repo.resolve(request.revision)
        if commit is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {request.revision}", body)
        if request.endpoint == "info":
            return self._json(repo.info(commit, blobs=query.get("blobs") in ("true", "1")), body)
        if request.endpoint == "tree":
            folder = (request.filename or "").strip("/")
            if folder and folder not in repo.folders:
                return self._error(404, "EntryNotFound", f"{folder} does not exist on {request.revision}", body)
            return self._json(repo.tree(folder, recursive=query.get("recursive") in ("true", "1")), body)
        file = repo.files.get(request.filename)
        if file is None:
            headers = {"X-Repo-Commit": commit}
            return self._error(404, "EntryNotFound", "Entry not found", body, headers)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(file.size))
        self.send_header("X-Repo-Commit", commit)
        self.send_header("ETag", f'"{file.blob_id}"')
        if file.sha256:
            self.send_header("X-Linked-Etag", f'"{file.sha256}"')
            self.send_header("X-Linked-Size", str(file.size))
        self.end_headers()
        if body:
            try:
                with file.local.open("rb") as source:
                    shutil.copyfileobj(source, self.wfile, CHUNK)
            except ConnectionError:  # the client went away mid-file
                self.close_connection = True

    def _json(self, data, body: bool) -> None:
        payload = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def _error(self, status: int, code: str | None, message: str, body: bool, headers: dict | None = None) -> None:
        payload = json.dumps({"error": message}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if code:
            self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", message)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(payload)
