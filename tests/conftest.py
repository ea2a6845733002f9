"""Shared fixtures: the real mirrored datasets and the real embedded SmolLM2-135M model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = Path(os.environ.get("STEERING_DATASETS", REPO.parent / "shared" / "datasets"))
RESOURCES = REPO / "resources"
SMALL_MODEL = "smollm2-135m-instruct"
SMALL_MODEL_LAYER = 10


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    if not SHARED_DATASETS.is_dir():
        pytest.fail(f"the mirrored datasets are missing: {SHARED_DATASETS} (set STEERING_DATASETS)")
    return SHARED_DATASETS


@pytest.fixture(scope="session")
def small_model_json() -> Path:
    """The embedded SmolLM2-135M, prepared once into resources/ (as the workflow does)."""
    from steering_reliability.models import ModelSpec, prepare_model

    model_json = RESOURCES / "models" / SMALL_MODEL / "model.json"
    if not model_json.exists():
        spec = ModelSpec(name=SMALL_MODEL, source="embedded", id=SMALL_MODEL)
        prepare_model(spec, model_json.parent, RESOURCES / "wheels")
    return model_json


@pytest.fixture(scope="session")
def small_model(small_model_json):
    import torch

    from steering_reliability.models import load_model

    torch.manual_seed(0)
    return load_model(small_model_json)


def load_real_items(datasets_dir: Path, name: str):
    from steering_reliability.items import dataset_kind_and_path, load_items

    return load_items(name, datasets_dir / dataset_kind_and_path(name)[1])


def tiny_config(full_study: bool = True) -> dict:
    """tests/config/tiny.yaml with absolute paths, so it runs from any working directory.

    ``full_study=False`` keeps only the in-distribution study of the embedded model (for
    the tests that run the workflow several times).
    """
    config = yaml.safe_load((REPO / "tests/config/tiny.yaml").read_text())
    config["data"]["mirror"] = str(SHARED_DATASETS)
    config["compute"]["wheel_dir"] = str(RESOURCES / "wheels")
    if not full_study:
        del config["ood"], config["sweep"], config["models"]["smollm2-local"]
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
    # reuse the model the session fixture prepared instead of converting it again
    (workdir / "resources").symlink_to(RESOURCES)
    return workdir


def run_workflow(workdir: Path, *extra: str) -> None:
    completed = subprocess.run(workflow_command(workdir, *extra), capture_output=True, text=True)
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-4000:]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, small_model_json) -> tuple[Path, dict]:
    """One clean run of the tiny workflow: (its working directory, its config)."""
    config = tiny_config()
    workdir = prepare_workdir(tmp_path_factory.mktemp("tiny") / "run", config)
    run_workflow(workdir)
    return workdir, config
