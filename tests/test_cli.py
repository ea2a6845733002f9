"""The command line describes itself, checks configs before any compute and compares two runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from steering_reliability.__main__ import main
from steering_reliability.data.items import known_datasets

REPO = Path(__file__).resolve().parents[1]


def test_help_names_the_program_its_commands_and_examples():
    result = subprocess.run([sys.executable, "-m", "steering_reliability", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: steering-reliability")
    for command in ("audit", "check-config", "datasets", "compare-runs", "examples:", "--version"):
        assert command in result.stdout


def test_version_is_the_installed_package_version(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"steering-reliability {version('steering-reliability')}"


def test_check_config_accepts_the_paper_config_and_resolves_its_protocol(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    assert main(["check-config", "config/paper.yaml"]) == 0
    out = capsys.readouterr().out
    assert "protocol paper-exact, split repo-exact" in out
    assert "model llama-2-7b-chat: huggingface meta-llama/Llama-2-7b-chat-hf @ f5db02db" in out
    assert "prompts repepo-llama2-chat" in out and "device cuda" in out


def test_check_config_names_the_key_of_a_bad_value(tmp_path, capsys):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["steering"]["multipliers"] = [-1.0, 1.0]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["check-config", str(path), "--schema", str(REPO / "workflow/schemas/config.schema.yaml")]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"check-config: {path}: steering.multipliers: must include 0")


def test_datasets_lists_every_known_dataset_with_its_raw_file(capsys):
    assert main(["datasets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == known_datasets()
    assert "sycophancy_test\tsycophancy\tcaa/sycophancy/test_dataset.json" in lines


def test_check_config_names_the_key_of_a_schema_violation(tmp_path, capsys):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["data"]["max_item"] = config["data"].pop("max_items")
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["check-config", str(path), "--schema", str(REPO / "workflow/schemas/config.schema.yaml")]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"check-config: {path}: data: Additional properties are not allowed ('max_item'")


def _write_run(root: Path, slope: float, text: str, logits: list[float]) -> None:
    """A small results folder: a table, a tensor artifact, a JSON record, a figure and a provenance record."""
    import pandas as pd
    import torch

    from steering_reliability.run.tensors import save_tensors

    (root / "m" / "tables").mkdir(parents=True)
    table = pd.DataFrame({"dataset": ["a", "b"], "slope": [0.25, slope], "note": ["x", text]})
    table.to_csv(root / "m" / "tables" / "steerability.csv", index=False)
    save_tensors(root / "m" / "vectors.safetensors", {"v": torch.tensor(logits)}, {"layer": 3})
    (root / "m" / "layer.json").write_text(json.dumps({"layer": 3, "by_layer": {"3": slope}}))
    (root / "m" / "fig.svg").write_text(f"<svg>{text}</svg>")
    (root / "m" / "fig.svg.prov.json").write_text(json.dumps({"created": str(slope)}))


def test_compare_runs_tells_identical_within_tolerance_and_different_apart(tmp_path, capsys):
    """Two runs that differ by known amounts: 1e-7 in a table, a tensor and a JSON value (within 1e-6),
    then 1e-3 in one tensor entry, a changed text cell and figure, a file present in one run only."""
    from steering_reliability.run.run_diff import compare_runs

    _write_run(tmp_path / "a", 0.5, "y", [0.01, 0.02, float("nan")])
    _write_run(tmp_path / "b", 0.5 + 1e-7, "y", [0.01, 0.02 + 1e-7, float("nan")])
    diffs = {diff.path: diff for diff in compare_runs(tmp_path / "a", tmp_path / "b")}
    statuses = {path: diff.status for path, diff in diffs.items()}
    assert statuses == {
        "m/tables/steerability.csv": "within",
        "m/vectors.safetensors": "within",
        "m/layer.json": "within",
        "m/fig.svg": "identical",  # provenance records are skipped although they differ
    }
    for path in ("m/tables/steerability.csv", "m/vectors.safetensors", "m/layer.json"):
        assert diffs[path].max_diff == pytest.approx(1e-7, rel=0.01)  # float32 rounding in the tensor
    assert main(["compare-runs", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    assert "4 files: 1 byte-identical, 3 equal within 1e-06" in capsys.readouterr().out

    _write_run(tmp_path / "c", 0.5, "z", [0.01, 0.021, float("nan")])
    (tmp_path / "c" / "m" / "extra.csv").write_text("x\n1\n")
    diffs = {diff.path: diff for diff in compare_runs(tmp_path / "a", tmp_path / "c", atol=1e-6)}
    assert diffs["m/vectors.safetensors"].status == "different"
    assert abs(diffs["m/vectors.safetensors"].max_diff - 1e-3) < 1e-6
    assert diffs["m/tables/steerability.csv"].detail == "column 'note' differs in 1 rows, first at row 1"
    assert (diffs["m/fig.svg"].status, diffs["m/fig.svg"].detail) == ("different", "bytes differ")
    assert diffs["m/extra.csv"].status == "only in B"
    assert diffs["m/layer.json"].status == "identical"
    assert main(["compare-runs", str(tmp_path / "a"), str(tmp_path / "c")]) == 1
    assert main(["compare-runs", str(tmp_path / "a"), str(tmp_path / "missing")]) == 2
    assert "missing: not a folder" in capsys.readouterr().err


def test_compare_runs_refuses_nan_where_the_other_run_has_a_number_and_names_an_unreadable_file(tmp_path):
    from steering_reliability.run.run_diff import compare_runs

    _write_run(tmp_path / "a", 0.5, "y", [0.01, 0.02, float("nan")])
    _write_run(tmp_path / "b", 0.5, "y", [0.01, 0.02, 3.0])
    (diff,) = [diff for diff in compare_runs(tmp_path / "a", tmp_path / "b") if diff.status != "identical"]
    assert (diff.path, diff.status, diff.detail) == (
        "m/vectors.safetensors",
        "different",
        "v: NaN or inf at different places",
    )

    tensor = tmp_path / "b" / "m" / "vectors.safetensors"
    tensor.write_bytes(tensor.read_bytes()[:-4])  # truncated: named as different, the comparison goes on
    diffs = {diff.path: diff for diff in compare_runs(tmp_path / "a", tmp_path / "b")}
    assert diffs["m/vectors.safetensors"].status == "different"
    assert "not a readable safetensors file" in diffs["m/vectors.safetensors"].detail
    assert diffs["m/layer.json"].status == "identical"


# --- bad input to the commands: one line, no traceback -------------------------------------------


def test_a_negative_seed_is_refused_by_its_key(tmp_path, capsys):
    """A negative data.seed would give exactly the split of its absolute value: a "replicate" that repeats a run."""
    for key in ("data", "statistics"):
        config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
        config.setdefault(key, {})["seed"] = -3
        path = tmp_path / f"{key}.yaml"
        path.write_text(yaml.safe_dump(config))
        assert main(["check-config", str(path), "--schema", str(REPO / "workflow/schemas/config.schema.yaml")]) == 1
        assert capsys.readouterr().err.startswith(f"check-config: {path}: {key}.seed: -3 is less than the minimum of 0")


def test_compare_runs_refuses_nothing_to_compare_and_a_tolerance_that_is_not_one(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert main(["compare-runs", str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    assert "nothing to compare" in capsys.readouterr().err
    _write_run(tmp_path / "c", 0.5, "x", [1.0, 2.0])
    for bad in ("-1e-6", "nan", "inf", "tiny"):
        with pytest.raises(SystemExit) as exit_code:
            main(["compare-runs", str(tmp_path / "c"), str(tmp_path / "c"), f"--atol={bad}"])
        assert exit_code.value.code == 2
        assert f"--atol: must be a finite number >= 0, not '{bad}'" in capsys.readouterr().err


def test_audit_names_a_corrupt_record_and_a_path_outside_its_root(tmp_path, capsys):
    table = tmp_path / "run" / "results" / "m" / "tables" / "t.csv"
    table.parent.mkdir(parents=True)
    table.write_text("a\n1\n")
    Path(f"{table}.prov.json").write_text('{"rule": "steerability_table", "sha256": ')  # cut off mid-write
    assert main(["audit", str(table)]) == 1
    out = capsys.readouterr().out
    assert "results/m/tables/t.csv: unreadable provenance record t.csv.prov.json (JSONDecodeError)" in out
    assert "verdict: PROBLEMS FOUND" in out
    outside = tmp_path / "elsewhere.csv"
    outside.write_text("a\n")
    assert main(["audit", str(outside), "--root", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == f"audit: {outside}: not inside --root {tmp_path / 'run'}\n"


def test_an_unparsable_config_file_is_named_with_its_line(tmp_path, capsys):
    """Snakemake itself says only "Config file is not valid JSON or YAML"; check-config names the line (README)."""
    path = tmp_path / "broken.yaml"
    path.write_text("data:\n  datasets: [myopic-reward, truthfulqa\n  seed: 0\n")
    assert main(["check-config", str(path), "--schema", str(REPO / "workflow/schemas/config.schema.yaml")]) == 2
    assert capsys.readouterr().err == (
        f"check-config: {path}: line 3, column 7: expected ',' or ']', but got ':' "
        "(while parsing a flow sequence at line 2, column 13)\n"
    )


def test_audit_of_a_folder_finds_a_final_output_damaged_after_the_run(tmp_path, capsys):
    """Snakemake calls an edited output up to date (its time stamp is newer than its inputs'); README tells users
    to run `steering-reliability audit results`, which checks every artifact against its record."""
    from steering_reliability.data.sources import sha256_of

    results = tmp_path / "results"
    for name in ("summary.md", "m/tables/steerability.csv", "m/figures/fig1.png"):
        path = results / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"content of {name}\n".encode())
        Path(f"{path}.prov.json").write_text(json.dumps({"rule": "r", "sha256": sha256_of(path)}))
    assert main(["audit", str(results)]) == 0
    assert capsys.readouterr().out == "3 artifacts checked against their records: 0 problems\n"
    table = results / "m/tables/steerability.csv"
    table.write_bytes(table.read_bytes()[:5])  # truncated
    (results / "m/figures/fig1.png").unlink()
    assert main(["audit", "results", "--root", str(tmp_path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{results}/m/figures/fig1.png: missing (its record is there)",
        f"{table}: sha256 differs from its record: truncated or edited after it was made",
        "3 artifacts checked against their records: 2 problems",
    ]
