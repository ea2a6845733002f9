"""Models from the Hugging Face hub, against a local stand-in for the hub (tests/fake_hub.py) that serves the real
SmolLM2-135M files plus decoys. ``prepare_model`` runs in a subprocess with ``HF_ENDPOINT`` pointing at it, so the
real huggingface_hub client resolves the revision, downloads over HTTP and records the hub's checksums: nothing is
mocked. Checked: the commit a branch resolves to is what model.json pins, only what loading needs is downloaded,
the recorded sha256 and parameter count are the weights', the snapshot loads the same model, and the failures
(no safetensors weights, a commit the repo does not have) are reported."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from fake_hub import FakeHub, Repo

REPO_ID = "org/smollm2-test"
COMMIT = hashlib.sha1(b"org/smollm2-test: the served commit").hexdigest()
BIN_ONLY_ID = "org/bin-only"
BIN_ONLY_COMMIT = hashlib.sha1(b"org/bin-only: the served commit").hexdigest()
GATED_ID = "org/gated-model"  # answers 403 GatedRepo, as the hub does before a licence is accepted
# files a lean download must skip: other weight formats, and the repo files loading does not read
DECOYS = {
    "pytorch_model.bin": b"a decoy: pickled weights are never downloaded\n",
    "model.gguf": b"a decoy: GGUF exports are never downloaded\n",
    "onnx/model.onnx": b"a decoy: ONNX exports are never downloaded\n",
    "README.md": b"# smollm2-test\n",
    ".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n",
}
# prepare_model as the workflow's prepare_model rule calls it (the wheel folder is only used by embedded models)
PREPARE = """
import sys
from pathlib import Path
from steering_reliability.model.models import ModelSpec, prepare_model
spec = ModelSpec(name="hubmodel", source="huggingface", id=sys.argv[1], revision=sys.argv[2])
prepare_model(spec, Path(sys.argv[3]), Path(sys.argv[4]), Path(sys.argv[5]) if len(sys.argv) > 5 else None)
"""


@pytest.fixture(scope="module")
def smollm2_dir(small_model_json) -> Path:
    """The real SmolLM2-135M directory the other tests load."""
    return Path(json.loads(small_model_json.read_text())["path"])


@pytest.fixture(scope="module")
def weights_sha256(smollm2_dir) -> str:
    with (smollm2_dir / "model.safetensors").open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


@pytest.fixture(scope="module")
def hub(tmp_path_factory, smollm2_dir):
    """The fake hub serving REPO_ID (SmolLM2's files, linked, plus DECOYS) and BIN_ONLY_ID (pickled weights only)."""
    repos = tmp_path_factory.mktemp("hub_repos")
    model_repo, bin_only = repos / "smollm2", repos / "bin-only"
    model_repo.mkdir()
    for source in smollm2_dir.iterdir():
        (model_repo / source.name).symlink_to(source)  # the real files, without copying 0.5 GB
    for name, content in DECOYS.items():
        (model_repo / name).parent.mkdir(parents=True, exist_ok=True)
        (model_repo / name).write_bytes(content)
    bin_only.mkdir()
    shutil.copy(smollm2_dir / "config.json", bin_only / "config.json")
    (bin_only / "pytorch_model.bin").write_bytes(DECOYS["pytorch_model.bin"])
    repos = [
        Repo(REPO_ID, model_repo, COMMIT),
        Repo(BIN_ONLY_ID, bin_only, BIN_ONLY_COMMIT),
        Repo(GATED_ID, bin_only, BIN_ONLY_COMMIT, gated=True),
    ]
    with FakeHub(repos) as server:
        yield server


def prepare(hub: FakeHub, workdir: Path, repo_id: str, revision: str, hub_cache: Path | None = None):
    """Run prepare_model for ``repo_id`` at ``revision`` in a subprocess whose hub is ``hub`` and whose cache is
    ``hub_cache`` (compute.hub_cache) or else ``workdir/hf_home``: (the finished process, the requests the hub
    received from it)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("HF_", "HUGGINGFACE_")) and name != "TRANSFORMERS_OFFLINE"
    }
    pythonpath = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    no_proxy = ",".join(filter(None, ["127.0.0.1", env.get("NO_PROXY")]))
    env.update(HF_ENDPOINT=hub.url, HF_HOME=str(workdir / "hf_home"), HF_HUB_DISABLE_TELEMETRY="1")
    env.update(PYTHONPATH=pythonpath, NO_PROXY=no_proxy)
    first = len(hub.requests)
    command = [sys.executable, "-c", PREPARE, repo_id, revision, str(workdir / "model"), str(workdir / "wheels")]
    command += [str(hub_cache)] if hub_cache else []
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    return completed, hub.requests[first:]


def files_requested(requests, method: str | None = None) -> set[str]:
    return {
        request.filename for request in requests if request.endpoint == "resolve" and method in (None, request.method)
    }


def header_parameters(path: Path) -> int:
    """Parameters in a safetensors file, from its header (an 8-byte little-endian length, then JSON)."""
    with path.open("rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
    return sum(math.prod(entry["shape"]) for name, entry in header.items() if name != "__metadata__")


def snapshot_files(path: Path) -> set[str]:
    return {file.relative_to(path).as_posix() for file in path.rglob("*") if not file.is_dir()}


@pytest.fixture(scope="module")
def from_main(hub, tmp_path_factory):
    """REPO_ID prepared at "main" into a study's compute.hub_cache: (model.json, its record, the hub cache, the
    requests); the cache is removed after."""
    workdir = tmp_path_factory.mktemp("from_main")
    completed, requests = prepare(hub, workdir, REPO_ID, "main", hub_cache=workdir / "resources" / "hub")
    assert completed.returncode == 0, completed.stderr[-4000:]
    model_json = workdir / "model" / "model.json"
    yield model_json, json.loads(model_json.read_text()), workdir / "resources" / "hub", requests
    shutil.rmtree(workdir / "resources")  # 0.5 GB of weights


def test_main_resolves_to_the_served_commit(from_main):
    """model.json pins the commit "main" resolved to, and every file was fetched at that commit, not at "main"."""
    _, record, _, requests = from_main
    assert record["source"] == "huggingface" and record["id"] == REPO_ID
    assert record["revision"] == COMMIT
    assert record["requested_revision"] == "main"
    assert [request.revision for request in requests if request.endpoint == "info"] == ["main"]
    assert {request.revision for request in requests if request.endpoint in ("tree", "resolve")} == {COMMIT}


def test_download_is_lean_and_lands_in_the_studys_hub_cache(from_main, smollm2_dir):
    """Only the model's own files are downloaded (the decoys are never even asked for), into compute.hub_cache
    (not HF_HOME); model.json records the attention implementation every job will load the model with."""
    _, record, hub_cache, requests = from_main
    model_files = {path.name for path in smollm2_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja"} <= model_files
    assert files_requested(requests, "GET") == model_files
    assert not files_requested(requests) & set(DECOYS)
    assert {request.endpoint for request in requests} == {"info", "tree", "resolve"}
    snapshot = Path(record["path"])
    assert snapshot.resolve() == (hub_cache / "models--org--smollm2-test" / "snapshots" / COMMIT).resolve()
    assert record["architecture"] == "LlamaConfig" and record["attn_implementation"] == "sdpa"
    assert snapshot_files(snapshot) == model_files
    for name in model_files - {"model.safetensors"}:
        assert (snapshot / name).read_bytes() == (smollm2_dir / name).read_bytes(), name


def test_weights_sha256_and_parameters_are_the_weights(from_main, smollm2_dir, weights_sha256):
    """The recorded sha256 is the one the hub advertised (the real file's), for the safetensors file only; the
    downloaded file has it; the parameter count is the one in the safetensors header."""
    _, record, _, _ = from_main
    assert record["weights_sha256"] == {"model.safetensors": weights_sha256}
    with (Path(record["path"]) / "model.safetensors").open("rb") as handle:
        assert hashlib.file_digest(handle, "sha256").hexdigest() == weights_sha256
    assert record["parameters"] == header_parameters(smollm2_dir / "model.safetensors") > 100_000_000


def test_downloaded_model_matches_the_original_and_jobs_do_not_download_it_again(hub, from_main, small_model):
    """load_model on the hub model.json (what every model job does) reads the study's hub cache: the hub receives
    no request, so the weights are fetched once per study; it gives the original model: same token ids, equal
    logits, with the attention implementation model.json records."""
    import torch

    from steering_reliability.model.models import load_model

    model_json, _, _, _ = from_main
    original, original_tokenizer = small_model
    before = len(hub.requests)
    model, tokenizer = load_model(model_json)
    assert len(hub.requests) == before
    assert model.config._attn_implementation == "sdpa"
    text = "The capital of France is"
    ids = tokenizer(text, return_tensors="pt")["input_ids"]
    assert torch.equal(ids, original_tokenizer(text, return_tensors="pt")["input_ids"])
    with torch.no_grad():
        assert torch.equal(model(ids).logits, original(ids).logits)


def test_pinned_commit_is_kept(hub, tmp_path, smollm2_dir, weights_sha256):
    """A 40-hex revision is looked up as such and recorded as both the requested and the resolved revision."""
    completed, requests = prepare(hub, tmp_path, REPO_ID, COMMIT)
    try:
        assert completed.returncode == 0, completed.stderr[-4000:]
        record = json.loads((tmp_path / "model" / "model.json").read_text())
        assert record["revision"] == record["requested_revision"] == COMMIT
        assert {request.revision for request in requests} == {COMMIT}
        assert record["weights_sha256"] == {"model.safetensors": weights_sha256}
        model_files = {path.name for path in smollm2_dir.iterdir()}
        assert files_requested(requests, "GET") == model_files
        assert snapshot_files(Path(record["path"])) == model_files
        assert Path(record["path"]).resolve().is_relative_to((tmp_path / "hf_home").resolve())
    finally:
        shutil.rmtree(tmp_path / "hf_home", ignore_errors=True)


def test_repo_without_safetensors_is_refused(hub, tmp_path):
    """A repo whose only weights are pytorch_model.bin fails with HubError before any file is downloaded."""
    completed, requests = prepare(hub, tmp_path, BIN_ONLY_ID, "main")
    assert completed.returncode != 0
    error = completed.stderr.strip().splitlines()[-1]
    assert error.startswith("steering_reliability.model.hub.HubError: models.hubmodel: org/bin-only"), error
    assert "safetensors" in error
    assert not files_requested(requests)
    assert not (tmp_path / "model" / "model.json").exists()


def test_unknown_commit_fails(hub, tmp_path):
    """A 40-hex commit the repo does not have fails at the lookup, naming the repo and the revision."""
    wrong = hashlib.sha1(b"never committed").hexdigest()
    completed, requests = prepare(hub, tmp_path, REPO_ID, wrong)
    assert completed.returncode != 0
    assert REPO_ID in completed.stderr and wrong in completed.stderr
    assert [request.endpoint for request in requests] == ["info"]
    assert not (tmp_path / "model" / "model.json").exists()


def test_a_model_that_does_not_exist_and_a_hub_that_cannot_be_reached_are_told_apart(hub, tmp_path):
    """Four failures of the lookup, four messages, each naming the config entry and the id: no such model, no such
    revision (test_unknown_commit_fails), a gated model without access, and no hub at all (a refused connection, as
    with no network)."""
    from types import SimpleNamespace

    completed, _ = prepare(hub, tmp_path / "missing", "org/no-such-model", "main")
    error = completed.stderr.strip().splitlines()[-1]
    assert "HubError: models.hubmodel: no model org/no-such-model on the hub (check the id" in error, error
    wrong = hashlib.sha1(b"never committed").hexdigest()
    completed, _ = prepare(hub, tmp_path / "revision", REPO_ID, wrong)
    error = completed.stderr.strip().splitlines()[-1]
    assert f"HubError: models.hubmodel: {REPO_ID} exists but has no revision '{wrong}'" in error, error
    completed, requests = prepare(hub, tmp_path / "gated", GATED_ID, "main")
    error = completed.stderr.strip().splitlines()[-1]
    assert f"HubError: models.hubmodel: {GATED_ID} is gated: accept its licence on the hub" in error, error
    assert not files_requested(requests)
    closed = SimpleNamespace(url="http://127.0.0.1:9", requests=[])  # nothing listens on the discard port
    completed, _ = prepare(closed, tmp_path / "offline", REPO_ID, "main")
    error = completed.stderr.strip().splitlines()[-1]
    assert f"HubError: models.hubmodel: the hub (http://127.0.0.1:9) cannot be reached to look up {REPO_ID}" in error
    assert "check the network" in error
