"""Bad input fails clearly (naming the key, file, line or item); nothing is skipped silently."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from steering_reliability.data.items import DatasetFormatError, load_items
from steering_reliability.data.sources import ChecksumError, fetch_raw_file, read_manifest, sha256_of
from steering_reliability.run.config import ConfigError, check_config

from conftest import (
    REPO,
    TEST_CHECKSUMS,
    TEST_MIRROR,
    prepare_workdir,
    run_workflow,
    tiny_config,
    with_defaults,
    workflow_command,
)

TINY = tiny_config(full_study=False)


def _config(**changes):
    """The tiny config with ``changes`` (keys joined by ``__``), before schema defaults are filled in."""
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
        ({"data__max_items": 6}, r"data\.max_items: 6 gives 3 test item\(s\) per dataset"),
        ({"steering__multipliers": [-1.0, float("nan"), 0.0, 1.0]}, r"steering\.multipliers\[1\]: nan is not a finite"),
        ({"sweep": {"datasets": ["truthfulqa"], "multipliers": [-1.0, float("inf")]}}, r"sweep\.multipliers\[1\]: inf"),
        ({"steering__multipliers": [-1.0, 1.0]}, r"steering\.multipliers: must include 0"),
        (
            {"figures__example_dataset": "myopic-reward"},
            r"figures\.example_dataset: 'myopic-reward' is not one of data\.datasets",
        ),
        (
            {"models__smollm2-135m-instruct__layer": 30},
            r"models\.smollm2-135m-instruct\.layer: 30 is out of range: smollm2-135m-instruct has layers 0\.\.29",
        ),
        (
            {"models__smollm2-135m-instruct__id": "smollm3"},
            r"models\.smollm2-135m-instruct\.id: unknown embedded model 'smollm3'",
        ),
        ({"ood": {"datasets": ["myopic-reward"]}}, r"ood\.datasets\[0\]: 'myopic-reward' is not one of data\.datasets"),
        (
            {"sweep": {"datasets": ["truthfulqa"], "multipliers": [-1.0, 0.0, 1.0]}},
            r"sweep\.multipliers: the layer sweep uses multipliers without 0",
        ),
        (
            {"models__smollm2-135m-instruct__layer": "auto"},
            r"models\.smollm2-135m-instruct\.layer: 'auto' needs the layer sweep",
        ),
        ({"data__mirror": "/no/such/mirror"}, r"data\.mirror: /no/such/mirror is not a folder"),
        ({"data__checksums": "/no/such/manifest"}, r"data\.checksums: /no/such/manifest is not a file"),
        (
            {
                "data__datasets": ["corrigible-neutral-HHH", "high-discount-factor"],
                "ood": {"datasets": ["high-discount-factor"]},
            },
            r"ood\.datasets: 'high-discount-factor' has no persona sentences",
        ),
        (
            {"protocol": "paper-exact", "data__split": "disjoint"},
            r"data\.split: 'disjoint' contradicts protocol: paper-exact",
        ),
        (
            {"protocol": "paper-exact", "data__counterbalance": True},
            r"data\.counterbalance: true contradicts protocol: paper-exact \(the paper's single answer order\)",
        ),
        (
            {"protocol": "paper-exact"},
            r"models\.smollm2-135m-instruct\.prompt_format: protocol paper-exact needs one of",
        ),
        ({"sweep": {"datasets": ["no-such-set"]}}, r"sweep\.datasets\[0\]: unknown dataset 'no-such-set'"),
        (
            {"sweep": {"datasets": ["truthfulqa"], "multipliers": [-1.0, 1.0], "train_percent": [10, 0]}},
            r"sweep\.train_percent: \[10, 0\] is not a range",
        ),
        (
            {"sweep": {"datasets": ["truthfulqa"], "multipliers": [-1.0, 1.0], "auto_depth": [0.75, 0.0]}},
            r"sweep\.auto_depth: \[0\.75, 0\.0\] is not a range",
        ),
    ],
)
def test_bad_config_names_the_key(changes, message):
    with pytest.raises(ConfigError, match=message):
        check_config(with_defaults(_config(**changes)))


def test_a_checksum_manifest_without_a_needed_raw_file_is_refused_before_compute(tmp_path):
    manifest = tmp_path / "MANIFEST.sha256"
    lines = TEST_CHECKSUMS.read_text().splitlines()
    manifest.write_text("\n".join(line for line in lines if "corrigible-neutral-HHH" not in line) + "\n")
    with pytest.raises(ConfigError, match=r"data\.checksums: .* has no sha256 for anthropic-evals/.*corrigible"):
        check_config(with_defaults(_config(data__checksums=str(manifest))))
    manifest.write_text("not a manifest\n")
    with pytest.raises(ConfigError, match=r"data\.checksums: .* is not a sha256sum manifest"):
        check_config(with_defaults(_config(data__checksums=str(manifest))))


def test_an_input_whose_provenance_record_was_deleted_is_refused(tmp_path, monkeypatch):
    """A file the workflow makes cannot be checked without its record: it is refused, not trusted."""
    from types import SimpleNamespace

    from steering_reliability.run.artifacts import write_json
    from steering_reliability.run.provenance import ChangedInputError, record_path, verify_inputs

    monkeypatch.chdir(tmp_path)
    made = Path("results/datasets/x.parquet")
    made.parent.mkdir(parents=True)
    made.write_bytes(b"table")
    write_json({"rule": "build_dataset", "sha256": sha256_of(made)}, record_path(made))
    source = Path("local-model/config.json")  # not made by the workflow: hashed, never refused
    source.parent.mkdir()
    source.write_text("{}")
    job = SimpleNamespace(input=[str(made), str(source)])
    assert set(verify_inputs(job)) == {str(made), str(source)}
    record_path(made).unlink()
    with pytest.raises(ChangedInputError, match=r"results/datasets/x\.parquet: its provenance record .* is missing"):
        verify_inputs(job)


def test_a_local_models_layer_is_checked_against_its_config(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"num_hidden_layers": 12}))
    config = _config()
    config["models"]["smollm2-135m-instruct"] = {"source": "local", "id": str(model), "layer": 12}
    with pytest.raises(ConfigError, match=r"models\.smollm2-135m-instruct\.layer: 12 is out of range: .* 0\.\.11"):
        check_config(with_defaults(config))


def test_a_name_that_would_become_a_path_is_refused_before_any_compute(tmp_path):
    config = _config()
    config["models"][".."] = config["models"].pop("smollm2-135m-instruct")
    completed = _dry_run(tmp_path, config)
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0 and "'..' does not match" in output and "Traceback" not in output
    assert not (tmp_path / "results").exists()


def test_unreadable_local_model_path_is_named():
    config = _config()
    config["models"]["smollm2-135m-instruct"] = {"source": "local", "id": "/nonexistent/model", "layer": 3}
    with pytest.raises(
        ConfigError, match=r"models\.smollm2-135m-instruct\.id: /nonexistent/model is not a readable model directory"
    ):
        check_config(with_defaults(config))


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


def _kill_when(workdir: Path, pattern: str, count: int, *extra: str) -> bool:
    """Start the workflow and SIGKILL its whole process group once ``count`` files matching ``pattern`` have
    been written by it (modified after it started)."""
    import os
    import signal
    import time

    started = time.time()
    process = subprocess.Popen(
        workflow_command(workdir, *extra), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = started + 600
    while time.time() < deadline and process.poll() is None:
        written = [path for path in (workdir / "results").glob(pattern) if path.stat().st_mtime > started]
        if len(written) >= count:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.05)
    process.wait()
    return False


def _artifact_bytes(workdir: Path) -> dict[str, bytes]:
    """Every artifact of the embedded model (tensors, tables, figures, manifest), but the provenance records."""
    results = workdir / "results" / "smollm2-135m-instruct"
    return {
        str(path.relative_to(results)): path.read_bytes()
        for path in sorted(results.rglob("*"))
        if path.is_file() and not path.name.endswith(".prov.json")
    }


def test_a_killed_and_resumed_run_is_byte_identical_to_a_clean_run(tiny_run, tmp_path):
    """In a copy of the clean tiny run, re-make the activation cache of one dataset and everything made
    from it (the model's tables and figures too), with a SIGKILL on the way (once the evaluation job has
    written its first dataset, after the new cache and vectors), resume as the README says: every tensor,
    table and figure of the model equals the clean run's byte for byte."""
    from steering_reliability.run.tensors import load_tensors

    clean_workdir, _ = tiny_run
    workdir = tmp_path / "interrupted"
    shutil.copytree(clean_workdir, workdir, symlinks=True, ignore=shutil.ignore_patterns("report.html"))
    model = workdir / "results" / "smollm2-135m-instruct"
    # --forcerun re-makes the cache; everything made from it is then older than it and is re-made too
    cache = "results/smollm2-135m-instruct/activations/corrigible-neutral-HHH.safetensors"
    pattern = "smollm2-135m-instruct/steering/corrigible-neutral-HHH/propensities.parquet"
    assert _kill_when(workdir, pattern, 1, "--forcerun", cache)
    # no partial tensor is left looking complete: every cache present loads
    for path in model.glob("activations/*.safetensors"):
        load_tensors(path)
    run_workflow(workdir, "--unlock")
    run_workflow(workdir, "--rerun-incomplete")
    resumed, clean = _artifact_bytes(workdir), _artifact_bytes(clean_workdir)
    assert sorted(resumed) == sorted(clean)
    differing = [name for name in clean if resumed[name] != clean[name]]
    assert not differing, differing
    assert any(name.endswith(".svg") for name in clean) and any(name.endswith(".safetensors") for name in clean)


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
    from steering_reliability.model.models import ModelSpec

    assert ModelSpec.from_config("m", {"source": "embedded", "id": "smollm2-135m-instruct"}).trust_remote_code is False


def test_corrupt_or_missing_weights_give_a_clear_error(tmp_path, small_model_json):
    import shutil

    from steering_reliability.model.models import load_model

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
def test_one_config_file_is_one_study_from_the_repository_root(name):
    """The README's commands, from the repository root: a --configfile replaces config/config.yaml."""
    command = [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--forceall"]
    if name == "paper.yaml":
        command += ["--configfile", "config/paper.yaml"]
    completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-3000:]
    models = set(yaml.safe_load((REPO / "config" / name).read_text())["models"])
    planned = set(re.findall(r"wildcards: model=([^,\s]+)", completed.stdout))
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", completed.stdout, flags=re.MULTILINE))
    assert planned == models, completed.stdout[-3000:]
    if name == "paper.yaml":
        assert models == {"llama-2-7b-chat", "qwen1.5-14b-chat", "gemma-2-2b-it"}
        # 3 models x 40 datasets, grouped into jobs (compute.datasets_per_job): each model is loaded once per
        # job, a handful of times per stage; every (model, dataset) has its activation cache and evaluation
        per_job = yaml.safe_load((REPO / "config" / name).read_text())["compute"]["datasets_per_job"]
        for stage, rule in (("activations", "cache_activations"), ("evaluation", "evaluate_steering")):
            jobs = -(-40 // per_job[stage])
            assert [int(counts[f"{rule}_{index}"]) for index in range(1, jobs + 1)] == [3] * jobs
            assert f"{rule}_{jobs + 1}" not in counts
        assert len(set(re.findall(r"results/[^/\s,]+/activations/[^/\s,]+\.safetensors", completed.stdout))) == 120


# --- data downloads, failing jobs, corrupted artifacts ---------------------------------


def test_raw_files_download_from_upstream_and_a_mismatch_is_never_used(upstream, tmp_path):
    """The download path (data.mirror null), against the local stand-in for GitHub's raw-file host."""
    from steering_reliability.data.sources import DownloadError, raw_url, read_manifest

    checksums = read_manifest(TEST_CHECKSUMS)
    for relative in ("caa/sycophancy/test_dataset.json", "repepo/repepo/experiments/persona_prompts.py"):
        destination = tmp_path / relative
        fetch_raw_file(relative, destination, checksums[relative], None, upstream.url)
        assert sha256_of(destination) == checksums[relative]
    assert raw_url("repepo/repepo/experiments/persona_prompts.py").startswith(
        "https://raw.githubusercontent.com/dtch1997/repepo/68f650aa76275039903fde10c299f0b01fa5045f/repepo/"
    )
    assert (
        "/nrimsky/CAA/bf7b5f4f11f6e80bf731b011c6c79592a3c7a414/preprocessed_data/test_dataset.json" in upstream.requests
    )
    wrong = tmp_path / "wrong" / "test_dataset.json"
    with pytest.raises(ChecksumError, match="does not match the pinned"):
        fetch_raw_file("caa/sycophancy/test_dataset.json", wrong, "0" * 64, None, upstream.url)
    assert not wrong.exists()
    with pytest.raises(DownloadError, match=r"download failed .*set data\.mirror"):
        fetch_raw_file("anthropic-evals/persona/narcissism-typo.jsonl", tmp_path / "x", "0" * 64, None, upstream.url)


def _console(completed: subprocess.CompletedProcess) -> str:
    return completed.stdout + completed.stderr


def _failing_run(workdir: Path, target: str) -> str:
    """Run the workflow towards ``target``, which must fail: its console output."""
    completed = subprocess.run(workflow_command(workdir, target), capture_output=True, text=True)
    assert completed.returncode != 0, _console(completed)[-3000:]
    return _console(completed)


def test_a_failing_job_prints_one_clear_line_and_keeps_the_traceback_in_its_log(tmp_path):
    """A malformed raw file (pinned by its own manifest, so it passes the checksum) fails build_dataset."""
    mirror = tmp_path / "mirror"
    shutil.copytree(TEST_MIRROR, mirror)
    raw = mirror / "anthropic-evals/persona/anti-LGBTQ-rights.jsonl"
    lines = raw.read_text().splitlines(keepends=True)
    lines[2] = lines[2][:40] + "\n"  # a record cut in half
    raw.write_text("".join(lines))
    manifest = mirror / "MANIFEST.sha256"
    entries = read_manifest(manifest)
    entries["anthropic-evals/persona/anti-LGBTQ-rights.jsonl"] = sha256_of(raw)
    manifest.write_text("".join(f"{digest}  {path}\n" for path, digest in entries.items()))
    config = _config()
    config["data"].update(mirror=str(mirror), checksums=str(manifest))
    workdir = prepare_workdir(tmp_path / "run", config)
    completed = subprocess.run(
        workflow_command(workdir, "results/datasets/anti-LGBTQ-rights.parquet"), capture_output=True, text=True
    )
    console = _console(completed)
    assert completed.returncode != 0
    expected = "ERROR in rule build_dataset: resources/raw/anthropic-evals/persona/anti-LGBTQ-rights.jsonl:line 3:"
    assert f"{expected} malformed JSON" in console, console[-3000:]
    assert "(traceback in logs/datasets/anti-LGBTQ-rights.log)" in console
    assert "Traceback (most recent call last)" not in console
    log = (workdir / "logs/datasets/anti-LGBTQ-rights.log").read_text()
    assert "Traceback (most recent call last)" in log and "DatasetFormatError" in log


@pytest.fixture
def finished_copy(tiny_run, tmp_path):
    """A copy of the tiny run's working directory (results, raw files, Snakemake's records)."""
    workdir, config = tiny_run
    copy_dir = tmp_path / "copy"
    shutil.copytree(workdir, copy_dir, symlinks=True, ignore=shutil.ignore_patterns("report.html"))
    return copy_dir, config


def test_a_truncated_artifact_is_named_before_use_and_re_made_when_deleted(finished_copy):
    """A dataset that fails in the middle of a grouped model job: named, and the rerun redoes only it and the rest.

    The tiny study evaluates its three datasets in one job (compute.datasets_per_job.evaluation);
    the second one's vectors are truncated. The first dataset, finished before the failure, is kept
    for the rerun (Snakemake deletes a failed job's outputs) and linked back, not computed again.
    """
    workdir, _ = finished_copy
    model = workdir / "results/smollm2-135m-instruct"
    datasets = ["corrigible-neutral-HHH", "admits-uncertainty", "truthfulqa"]
    originals = {name: (model / f"steering/{name}/items.parquet").read_bytes() for name in datasets}
    vectors = model / "vectors/admits-uncertainty.safetensors"
    original = vectors.read_bytes()
    vectors.write_bytes(original[: len(original) // 2])
    target = "results/smollm2-135m-instruct/steering/truthfulqa/items.parquet"
    console = _failing_run(workdir, target)
    assert (
        "ERROR in rule evaluate_steering, dataset admits-uncertainty (job evaluate_steering_1): "
        "results/smollm2-135m-instruct/vectors/admits-uncertainty.safetensors: "
        "its bytes differ from what rule steering_vectors wrote"
    ) in console, console[-3000:]
    assert "Delete it and run snakemake again to re-make it" in console and "Traceback" not in console
    assert "1 finished dataset(s) of 3 are kept in results/.resume/smollm2-135m-instruct/evaluate_steering" in console
    assert not (model / "steering/corrigible-neutral-HHH/items.parquet").exists()  # removed by Snakemake
    kept = workdir / "results/.resume/smollm2-135m-instruct/evaluate_steering/corrigible-neutral-HHH"
    assert len(list(kept.glob("*/slopes/items.parquet"))) == 1
    vectors.unlink()
    run_workflow(workdir, target)
    assert vectors.read_bytes() == original  # re-made, byte for byte
    for name in datasets:
        assert (model / f"steering/{name}/items.parquet").read_bytes() == originals[name], name
    logs = workdir / "logs/smollm2-135m-instruct/steering"
    assert "outputs restored from results/.resume" in (logs / "corrigible-neutral-HHH.log").read_text()
    for name in datasets[1:]:
        assert "restored" not in (logs / f"{name}.log").read_text()  # computed again
    assert not (workdir / "results/.resume").exists()  # emptied once the whole job finished


def test_an_auto_depth_range_without_a_layer_of_a_known_depth_model_stops_the_run_before_any_job(tmp_path):
    """sweep.auto_depth is checked against the depth of an embedded or local model when the config is read (a hub
    model's depth is known once it is loaded: its sweep job checks it then, before its first pass)."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"num_hidden_layers": 30}))
    config = _config()
    config["models"]["local"] = {"source": "local", "id": str(model), "layer": "auto"}
    config["sweep"] = {"datasets": ["truthfulqa"], "multipliers": [-1.0, 1.0], "auto_depth": [0.99, 1.0]}
    completed = _dry_run(tmp_path, config)  # 30 layers: 29 / 30 = 0.967 is the deepest
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0 and "Traceback" not in output
    assert "models.local.layer: auto, but sweep.auto_depth [0.99, 1.0] leaves no layer of 30" in output, output
    assert not (tmp_path / "results").exists()


def test_grouping_datasets_into_jobs_changes_no_artifact(tiny_run, finished_copy):
    """One dataset per job (91 loads of a model in the paper's study) against the grouped default: compare-runs.

    smollm2-local's model jobs of the second dataset (in the OOD study, so its evaluation holds the ID one too)
    are re-made in jobs of their own (a job's datasets are among its params, so Snakemake re-runs them; the job
    names' index 2 exists only when every dataset has its own job), and so are both sweep datasets' jobs (the
    model's layer is `auto`: its evaluation reads the whole sweep); the other datasets would add nothing but
    time. The tables and figures made from their outputs are not asked for again: they are functions of these
    outputs (and byte-identical across runs, test_a_killed_and_resumed_run_...)."""
    from steering_reliability.run.run_diff import compare_runs

    workdir, _ = finished_copy
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config.setdefault("compute", {})["datasets_per_job"] = {"activations": 1, "evaluation": 1, "sweep": 1}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    model = "results/smollm2-local"
    remade = config["data"]["datasets"][1]
    assert config["ood"]["datasets"] == [remade] == ["admits-uncertainty"] and len(config["sweep"]["datasets"]) == 2
    targets = [f"{model}/steering/{remade}/items.parquet"]
    completed = subprocess.run(workflow_command(workdir, *targets), capture_output=True, text=True)
    assert completed.returncode == 0, _console(completed)[-3000:]
    console = _console(completed)
    # one job per dataset: the second dataset's own jobs and each sweep dataset's, and no others
    jobs = set(re.findall(r"rule ((?:cache_activations|evaluate_steering|layer_sweep)_\d+):", console))
    assert jobs == {"cache_activations_2", "evaluate_steering_2", "layer_sweep_1", "layer_sweep_2"}, jobs
    diffs = compare_runs(tiny_run[0] / "results", workdir / "results")
    assert len(diffs) > 100 and all(diff.status == "identical" for diff in diffs), [
        diff.line() for diff in diffs if diff.status != "identical"
    ]


def test_a_raw_file_edited_after_it_was_fetched_is_refused(finished_copy):
    workdir, _ = finished_copy
    raw = workdir / "resources/raw/anthropic-evals/advanced-ai-risk/lm_generated_evals/corrigible-neutral-HHH.jsonl"
    raw.write_text(raw.read_text().replace("goal", "aim", 1))
    completed = subprocess.run(
        workflow_command(workdir, "results/datasets/corrigible-neutral-HHH.parquet"), capture_output=True, text=True
    )
    assert completed.returncode != 0
    assert "corrigible-neutral-HHH.jsonl: its bytes differ from what rule fetch_raw_file wrote" in _console(completed)


def test_outputs_are_readable_as_the_umask_says(tiny_run):
    import os
    import stat

    from steering_reliability.run.artifacts import FILE_MODE

    workdir, _ = tiny_run
    umask = os.umask(0)
    os.umask(umask)
    assert FILE_MODE == 0o666 & ~umask
    for path in (
        "results/smollm2-135m-instruct/tables/steerability.csv",
        "results/smollm2-135m-instruct/activations/admits-uncertainty.safetensors",
        "results/summary.md",
    ):
        assert stat.S_IMODE((workdir / path).stat().st_mode) == FILE_MODE, path


def test_a_change_to_the_package_code_marks_exactly_the_outputs_it_affects(tiny_run, tmp_path):
    """Edit the spurious-bias module in a copy of the project: the bias table and what is made from it
    are planned again, the activation caches and steering evaluations are not."""
    import os

    workdir, _ = tiny_run
    project = tmp_path / "project"
    project.mkdir()
    for part in ("Snakefile", "workflow", "config", "src"):
        source = REPO / part
        (shutil.copytree if source.is_dir() else shutil.copy)(source, project / part)
    bias = project / "src/steering_reliability/analysis/bias.py"
    bias.write_text(bias.read_text() + "\n# an edit\n")
    # Snakemake's own "code" trigger also fires for rules whose Snakefile moved (the copy); leave it
    # out to see what the package-code hash each rule takes as a parameter does on its own
    command = workflow_command(workdir, "-n", "--rerun-triggers", "mtime", "params", "input", "software-env")
    command[command.index("--snakefile") + 1] = str(project / "Snakefile")
    environment = dict(os.environ, PYTHONPATH=str(project / "src"))
    completed = subprocess.run(command, capture_output=True, text=True, env=environment)
    assert completed.returncode == 0, _console(completed)[-3000:]
    planned = dict(re.findall(r"^(\w+)\s+(\d+)$", completed.stdout, flags=re.MULTILINE))
    assert int(planned["bias_regression"]) == 2  # one per model
    # the bias table, the methods' tables (their shares come from the same module), what is made from them, and
    # nothing else (no activation cache, no evaluation)
    expected = {"bias_regression", "method_tables", "figures", "summary", "manifest", "all"}
    assert set(planned) - {"total"} == expected
    unchanged = subprocess.run(workflow_command(workdir, "-n"), capture_output=True, text=True)
    assert "Nothing to be done" in _console(unchanged)


def test_a_killed_writers_temporary_file_is_removed_when_the_artifact_is_written_again(tmp_path):
    """SIGKILL skips a writer's clean-up and leaves its temporary sibling; the rerun of the job that makes the
    artifact removes it (a killed-and-resumed run's results then hold exactly a clean run's files)."""
    import pandas as pd

    from steering_reliability.run.artifacts import write_table

    target = tmp_path / "steering" / "items.parquet"
    target.parent.mkdir(parents=True)
    stale = target.parent / ".items.parquet.k1ll3d.partial"
    stale.write_bytes(b"half a parquet file")
    other = target.parent / ".propensities.parquet.k1ll3d.partial"  # another artifact's: not this writer's to remove
    other.write_bytes(b"half")
    write_table(pd.DataFrame({"a": [1]}), target)
    assert sorted(path.name for path in target.parent.iterdir()) == [other.name, "items.parquet"]
