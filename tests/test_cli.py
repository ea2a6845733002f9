"""The command line describes itself and checks configs before any compute."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from steering_reliability.__main__ import main
from steering_reliability.items import known_datasets

REPO = Path(__file__).resolve().parents[1]


def test_help_names_the_program_its_commands_and_examples():
    result = subprocess.run([sys.executable, "-m", "steering_reliability", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: steering-reliability")
    for command in ("audit", "check-config", "datasets", "examples:", "--version"):
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
