"""Shared fixtures: the trimmed real raw files (tests/data/mirror) and the real embedded SmolLM2-135M model.

Nothing here reads ../shared: the tests run on a fresh clone.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
TEST_MIRROR = REPO / "tests" / "data" / "mirror"
TEST_CHECKSUMS = TEST_MIRROR / "MANIFEST.sha256"
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
RESOURCES = REPO / "resources"
SMALL_MODEL = "smollm2-135m-instruct"
SMALL_MODEL_LAYER = 10


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    return TEST_MIRROR


def with_defaults(config: dict) -> dict:
    """``config`` validated against the workflow's schema, which fills in the defaults (as the Snakefile does)."""
    from snakemake.utils import validate

    config = copy.deepcopy(config)
    validate(config, str(SCHEMA))
    return config


# Fixtures that run a workflow once for several tests: pytest-xdist keeps the tests that use one
# of them on one worker (--dist loadgroup), so that the workflow runs once, not once per worker.
SHARED_RUNS = ("tiny_run", "slurm_run")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the group marks
def pytest_collection_modifyitems(items):
    for item in items:
        shared = [name for name in SHARED_RUNS if name in getattr(item, "fixturenames", ())]
        if shared:
            item.add_marker(pytest.mark.xdist_group(shared[0]))


@pytest.fixture(scope="session")
def small_model_json() -> Path:
    """The embedded SmolLM2-135M, prepared once into the repository's resources/ by the workflow's own
    prepare_model rule (so that its model.json has a provenance record, as in a real run), under the tiny
    config (the default config has no SmolLM2). A file lock keeps two test workers from preparing it at once."""
    from filelock import FileLock

    model_json = RESOURCES / "models" / SMALL_MODEL / "model.json"
    RESOURCES.mkdir(exist_ok=True)
    with FileLock(RESOURCES / ".prepare-test-model.lock"):
        if not (model_json.exists() and (model_json.parent / "model.json.prov.json").exists()):
            target = str(model_json.relative_to(REPO))
            command = [sys.executable, "-m", "snakemake", "--directory", str(REPO), "--cores", "1", target]
            config = yaml.safe_load((REPO / "tests/config/tiny.yaml").read_text())
            config["models"] = {SMALL_MODEL: config["models"][SMALL_MODEL]}  # not the local copy it makes
            configfile = RESOURCES / ".prepare-test-model.yaml"
            configfile.write_text(yaml.safe_dump(config))
            command += ["--configfile", str(configfile)]
            completed = subprocess.run([*command, "--forcerun", "prepare_model"], capture_output=True, text=True)
            assert completed.returncode == 0, completed.stderr[-3000:]
    return model_json


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """In-process model tests run on one thread: on this kind of 2-vCPU machine two torch threads in
    one process are about 2.5x slower than one (and the workflow's jobs use threads_per_job = 1 too)."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def small_model(small_model_json):
    import torch

    from steering_reliability.model.models import load_model

    torch.manual_seed(0)
    return load_model(small_model_json)


def load_real_items(datasets_dir: Path, name: str):
    from steering_reliability.data.items import dataset_kind_and_path, load_items

    return load_items(name, datasets_dir / dataset_kind_and_path(name)[1])


def tiny_config(full_study: bool = True) -> dict:
    """tests/config/tiny.yaml with absolute paths, so it runs from any working directory.

    ``full_study=False`` keeps only the in-distribution study of the embedded model with CAA
    alone (for the tests that run the workflow several times).
    """
    config = yaml.safe_load((REPO / "tests/config/tiny.yaml").read_text())
    config["data"].update(mirror=str(TEST_MIRROR), checksums=str(TEST_CHECKSUMS))
    for entry in config["data"]["user_datasets"].values():
        entry["file"] = str(REPO / entry["file"])
    config["compute"] = {"wheel_dir": str(RESOURCES / "wheels")}
    if not full_study:
        del config["ood"], config["sweep"], config["vectors"], config["models"]["smollm2-local"]
    return config


def workflow_command(workdir: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
        "--cores",
        "2",
        *extra,
    ]


def prepare_workdir(workdir: Path, config: dict) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    # reuse the models the session fixture prepared (and their wheels) instead of converting them again;
    # the raw files are the test mirror's, fetched into the working directory
    (workdir / "resources").mkdir()
    for folder in ("models", "wheels"):
        (RESOURCES / folder).mkdir(parents=True, exist_ok=True)
        (workdir / "resources" / folder).symlink_to(RESOURCES / folder)
    return workdir


def run_workflow(workdir: Path, *extra: str) -> None:
    completed = subprocess.run(workflow_command(workdir, *extra), capture_output=True, text=True)
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-4000:]


@pytest.fixture(scope="session")
def upstream():
    """A local stand-in for GitHub's raw-file host, serving the test mirror in the upstream layout."""
    from upstream_server import UpstreamServer

    with UpstreamServer(TEST_MIRROR) as server:
        yield server


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, small_model_json, upstream) -> tuple[Path, dict]:
    """One clean run of the tiny workflow: (its working directory, its config).

    Its raw files are downloaded (data.mirror null) from the local upstream stand-in, through
    the same code a real user's run uses against GitHub.
    """
    config = tiny_config()
    config["data"].update(mirror=None, download_url=upstream.url)
    workdir = prepare_workdir(tmp_path_factory.mktemp("tiny") / "run", config)
    run_workflow(workdir)
    return workdir, config
