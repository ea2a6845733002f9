"""Bad input fails clearly (naming the key, file, line or item); nothing is skipped silently."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from steering_reliability.config import ConfigError, check_config
from steering_reliability.items import DatasetFormatError, load_items
from steering_reliability.sources import ChecksumError, fetch_raw_file, sha256_of

from conftest import REPO, SHARED_DATASETS, prepare_workdir, run_workflow, tiny_config, workflow_command

TINY = tiny_config(full_study=False)


def _config(**changes):
    config = copy.deepcopy(TINY)
    for dotted, value in changes.items():
        target = config
        *parents, last = dotted.split("__")
        for key in parents:
            target = target[key]
        target[last] = value
    return config


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"data__datasets": ["corrigible-neutral-HHH", "myopic-rewards"]},
            r"data\.datasets\[1\]: unknown dataset 'myopic-rewards' \(did you mean myopic-reward",
        ),
        ({"data__max_items": 1}, r"data\.max_items: 1 is too small"),
        ({"steering__multipliers": [-1.0, 1.0, 1.0, 0.0]}, r"steering\.multipliers: duplicated"),
        ({"steering__multipliers": [-1.0, 1.0]}, r"steering\.multipliers: must include 0"),
        (
            {"figures__example_dataset": "truthfulqa"},
            r"figures\.example_dataset: 'truthfulqa' is not one of data\.datasets",
        ),
        (
            {"models__smollm2-135m-instruct__layer": 30},
            r"models\.smollm2-135m-instruct\.layer: 30 is out of range: smollm2-135m-instruct has layers 0\.\.29",
        ),
        (
            {"models__smollm2-135m-instruct__id": "smollm3"},
            r"models\.smollm2-135m-instruct\.id: unknown embedded model 'smollm3'",
        ),
        ({"ood": {"datasets": ["truthfulqa"]}}, r"ood\.datasets\[0\]: 'truthfulqa' is not one of data\.datasets"),
        (
            {"sweep": {"datasets": ["sycophancy_test"], "multipliers": [-1.0, 0.0, 1.0]}},
            r"sweep\.multipliers: the layer sweep uses multipliers without 0",
        ),
        (
            {"models__smollm2-135m-instruct__layer": "auto"},
            r"models\.smollm2-135m-instruct\.layer: 'auto' needs the layer sweep",
        ),
    ],
)
def test_bad_config_names_the_key(changes, message):
    with pytest.raises(ConfigError, match=message):
        check_config(_config(**changes))


def test_unreadable_local_model_path_is_named():
    config = _config()
    config["models"]["smollm2-135m-instruct"] = {"source": "local", "id": "/nonexistent/model", "layer": 3}
    with pytest.raises(
        ConfigError, match=r"models\.smollm2-135m-instruct\.id: /nonexistent/model is not a readable model directory"
    ):
        check_config(config)


def _dry_run(tmp_path: Path, config: dict) -> subprocess.CompletedProcess:
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            str(tmp_path),
            "--configfile",
            str(tmp_path / "config.yaml"),
            "--cores",
            "1",
        ],
        capture_output=True,
        text=True,
    )


def test_typo_key_and_bad_split_stop_before_any_compute(tmp_path):
    config = _config()
    config["steering"]["multiplers"] = config["steering"].pop("multipliers")
    completed = _dry_run(tmp_path, config)
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0
    assert "'multiplers' was unexpected" in output and "Traceback" not in output
    completed = _dry_run(tmp_path, _config(data__split="50:100%"))
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0 and "'disjoint', 'repo-exact'" in output
    completed = _dry_run(
        tmp_path, _config(data__datasets=["myopic-rewards"], figures__example_dataset="myopic-rewards")
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0 and "data.datasets[0]: unknown dataset 'myopic-rewards'" in output
    assert not (tmp_path / "results").exists()


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


PERSONA_OK = json.dumps({"question": "Q?", "answer_matching_behavior": " Yes", "answer_not_matching_behavior": " No"})


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            [PERSONA_OK, '{"question": "Q?", "answer_matching_behavior": " Yes"'],
            r"anti-LGBTQ-rights\.jsonl:line 2: malformed JSON",
        ),
        (
            [PERSONA_OK, json.dumps({"question": "Q?", "answer_matching_behavior": " Yes"})],
            r"line 2: missing field 'answer_not_matching_behavior'",
        ),
        (
            [
                json.dumps(
                    {"question": "Q?", "answer_matching_behavior": " Maybe", "answer_not_matching_behavior": " No"}
                )
            ],
            r"line 1: answer ' Maybe' is not Yes or No",
        ),
    ],
)
def test_malformed_persona_file_names_file_and_line(tmp_path, lines, message):
    path = _write(tmp_path / "anti-LGBTQ-rights.jsonl", lines)
    with pytest.raises(DatasetFormatError, match=message):
        load_items("anti-LGBTQ-rights", path)


def test_bad_letter_answer_names_the_item(tmp_path):
    records = [{"question": "Q (A) x (B) y", "answer_matching_behavior": "(C)", "answer_not_matching_behavior": "(A)"}]
    path = tmp_path / "test_dataset.json"
    path.write_text(json.dumps(records))
    with pytest.raises(DatasetFormatError, match=r"test_dataset\.json:item 0: answer '\(C\)' is not \(A\) or \(B\)"):
        load_items("sycophancy_test", path)


def test_checksum_mismatch_and_missing_mirror_file(tmp_path, datasets_dir):
    relative = "caa/sycophancy/test_dataset.json"
    destination = tmp_path / "out" / "test_dataset.json"
    with pytest.raises(ChecksumError, match="does not match the pinned"):
        fetch_raw_file(relative, destination, "0" * 64, datasets_dir)
    assert not destination.exists()  # nothing half-verified is left behind
    with pytest.raises(FileNotFoundError, match=r"missing from the local mirror \(config key data\.mirror"):
        fetch_raw_file("caa/sycophancy/nope.json", destination, "0" * 64, datasets_dir)
    fetch_raw_file(relative, destination, sha256_of(datasets_dir / relative), datasets_dir)
    assert sha256_of(destination) == sha256_of(datasets_dir / relative)


# --- interruption and determinism -------------------------------------------------

FINAL_TABLES = ("tables/steerability.csv", "tables/items.parquet", "tables/bias.csv")
OOD_TABLES = ("tables/ood_items.parquet", "tables/relative_steerability.csv", "tables/layer_sweep.csv")


def _table_bytes(workdir: Path, names=FINAL_TABLES) -> dict[str, bytes]:
    results = workdir / "results" / "smollm2-135m-instruct"
    tables = {name: (results / name).read_bytes() for name in names}
    if names == FINAL_TABLES:
        for path in sorted(results.glob("steering/*/*/*/*.parquet")):
            tables[str(path.relative_to(results))] = path.read_bytes()
    return tables


def _kill_when(workdir: Path, pattern: str, count: int, *extra: str) -> bool:
    """Start the workflow and SIGKILL its whole process group once ``count`` files match ``pattern``."""
    import os
    import signal
    import time

    process = subprocess.Popen(
        workflow_command(workdir, *extra), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + 600
    while time.time() < deadline and process.poll() is None:
        if len(list((workdir / "results").glob(pattern))) >= count:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.05)
    process.wait()
    return False


def test_killed_runs_resume_to_identical_tables(tiny_run, tmp_path):
    clean_workdir, _ = tiny_run
    # the in-distribution study alone: its tables must equal those of the full tiny run
    workdir = prepare_workdir(tmp_path / "interrupted", tiny_config(full_study=False))
    # kill point 1: after the first activation cache is written, the others still running or pending
    assert _kill_when(workdir, "smollm2-135m-instruct/activations/*/*.safetensors", 1)
    # no partial tensor is left looking complete: every cache present loads
    from steering_reliability.tensors import load_tensors

    for path in (workdir / "results").glob("smollm2-135m-instruct/activations/*/*.safetensors"):
        load_tensors(path)
    # the README's restart command: snakemake re-makes the jobs that were killed
    run_workflow(workdir, "--unlock")
    # kill point 2: during steering evaluation
    assert _kill_when(workdir, "smollm2-135m-instruct/steering/*/*/*/propensities.parquet", 1, "--rerun-incomplete")
    run_workflow(workdir, "--unlock")
    run_workflow(workdir, "--rerun-incomplete")
    assert _table_bytes(workdir) == _table_bytes(clean_workdir)


def test_two_clean_runs_give_identical_tables(tiny_run, tmp_path):
    clean_workdir, config = tiny_run
    # the compared tables are the embedded model's: the second run leaves out the other model
    config = copy.deepcopy(config)
    del config["models"]["smollm2-local"]
    workdir = prepare_workdir(tmp_path / "again", config)
    run_workflow(workdir)
    assert _table_bytes(workdir) == _table_bytes(clean_workdir)
    assert _table_bytes(workdir, OOD_TABLES) == _table_bytes(clean_workdir, OOD_TABLES)


def test_no_pickle_no_eval_and_no_remote_code_by_default():
    sources = (
        list((REPO / "src").rglob("*.py"))
        + list((REPO / "workflow").rglob("*.py"))
        + list((REPO / "workflow").rglob("*.smk"))
    )
    import re

    forbidden = re.compile(r"import pickle|torch\.load\(|read_pickle|(?<![.\w])(eval|exec)\(")
    for path in sources:
        match = forbidden.search(path.read_text())
        assert match is None, f"{path}: {match and match.group(0)}"
    from steering_reliability.models import ModelSpec

    assert ModelSpec.from_config("m", {"source": "embedded", "id": "smollm2-135m-instruct"}).trust_remote_code is False


def test_corrupt_or_missing_weights_give_a_clear_error(tmp_path, small_model_json):
    import shutil

    from steering_reliability.models import load_model

    source = Path(json.loads(small_model_json.read_text())["path"])
    broken = tmp_path / "broken-model"
    broken.mkdir()
    for path in source.iterdir():
        if path.suffix != ".safetensors":
            shutil.copy(path, broken / path.name)
    (broken / "model.safetensors").write_bytes(b"\x00" * 1024)  # truncated / corrupt weight file
    model_json = tmp_path / "model.json"
    model_json.write_text(json.dumps({"path": str(broken)}))
    with pytest.raises(RuntimeError, match=rf"{model_json}: cannot load the model at {broken}"):
        load_model(model_json)
    (broken / "model.safetensors").unlink()  # missing weight file
    with pytest.raises(RuntimeError, match="cannot load the model"):
        load_model(model_json)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "no-such-model.json")


@pytest.mark.parametrize("name", ["paper.yaml", "config.yaml"])
def test_shipped_configs_dry_run(tmp_path, name):
    config = yaml.safe_load((REPO / "config" / name).read_text())
    config["data"]["mirror"] = str(SHARED_DATASETS)
    completed = _dry_run(tmp_path, config)
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-3000:]
    output = completed.stdout
    for model in config["models"]:
        assert f"resources/models/{model}/model.json" in output
    for target in ("results/summary.md", "results/comparison/fig7_cross_model.png", "fig5_id_vs_ood.png"):
        assert target in output
