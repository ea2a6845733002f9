"""The GPU path without a GPU: the engine's real code on the paper models' real shapes on PyTorch's meta device.

* Every job type of every paper architecture runs on meta under ``FakeAccelerator``, which fails on any operation
  that mixes devices (the way a forgotten ``device=`` breaks a GPU run, or silently copies to the host); a planted
  omission is caught.
* The memory it counts is what the CPU allocator really allocates for the same code on a real model (SmolLM2-135M,
  measured with torch.profiler's allocation records), within 5%.
* ``steering-reliability size`` reports those peaks and says what fits.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from steering_reliability.data.items import selected, split_items
from steering_reliability.data.prompts import encode_rows
from steering_reliability.model.activations import letter_activations
from steering_reliability.model.engine import SteeringEngine
from steering_reliability.model.evaluation import propensity_table
from steering_reliability.model.fake_device import DeviceMixError, FakeAccelerator, meta_model, resident_bytes
from steering_reliability.model.models import attention_implementation, bundled_config
from steering_reliability.model.sweep import layer_sweep

from allocations import cpu_allocated_peak
from conftest import REPO, SMALL_MODEL, TEST_MIRROR, load_real_items

PAPER_MODELS = {  # hub id -> (parameters, the steering layer config/paper.yaml uses)
    "meta-llama/Llama-2-7b-chat-hf": (6_738_415_616, 13),
    "Qwen/Qwen1.5-14B-Chat": (14_167_290_880, 21),
    "google/gemma-2-2b-it": (2_614_341_888, 14),
}


@pytest.fixture(scope="module")
def items(small_model, datasets_dir):
    table = split_items(load_real_items(datasets_dir, "corrigible-neutral-HHH"), seed=0, max_items=12)
    return encode_rows(small_model[1], selected(table, "test"))


def run_jobs(model, items, layer):
    """The three model jobs' computations, as their scripts call them, on a few items."""
    engine = SteeringEngine(model, token_budget=2048, batch_size=4)
    hidden = model.config.get_text_config().hidden_size
    letter_activations(engine, items, [layer])  # cache_activations
    vectors = {name: torch.ones(hidden) for name in ("baseline", "SYS_pos")}
    propensity_table(engine, items, layer, vectors, [-1.0, 0.0, 1.0])  # evaluate_steering
    layers = [0, layer, engine.num_layers - 1]
    activations = letter_activations(engine, items[:2], layers)  # layer_sweep
    layer_sweep(engine, activations, items[2:4], layers, [-1.0, 1.0])


@pytest.mark.parametrize("model_id", list(PAPER_MODELS))
def test_every_job_type_runs_on_the_paper_models_real_shapes_without_mixing_devices(model_id, items):
    config = bundled_config(model_id)
    parameters, layer = PAPER_MODELS[model_id]
    attention = attention_implementation(config)
    assert attention == ("eager" if "gemma" in model_id else "sdpa")  # Gemma-2: soft-capping needs eager
    model = meta_model(config, torch.bfloat16, attention)
    assert sum(p.numel() for p in model.parameters()) == parameters  # the shipped config is the paper model's
    weights = resident_bytes(model)
    with FakeAccelerator(weights) as fake:  # strict: the first operation that mixes devices raises
        run_jobs(model, items, layer)
    assert fake.peak > weights and not fake.mixes


def test_a_forgotten_device_is_caught(items, monkeypatch):
    """Planted bug: the engine builds its token and mask tensors without ``device=``. The fake accelerator stops at
    the first operation that mixes devices: the embedding lookup of host token ids in device weights, which
    PyTorch itself allows (on a GPU: a hidden copy and synchronisation). Without the mode the same run goes on
    until a later operation that PyTorch does refuse."""
    model = meta_model(bundled_config("google/gemma-2-2b-it"), torch.bfloat16, "eager")
    monkeypatch.setattr(SteeringEngine, "_tensor", lambda self, values: torch.tensor(values))
    with pytest.raises(DeviceMixError, match=r"aten.embedding.default mixes devices: \(256000, 2304\) on meta"):
        with FakeAccelerator():
            run_jobs(model, items, 14)
    with pytest.raises(RuntimeError) as plain:
        run_jobs(model, items, 14)
    assert not isinstance(plain.value, DeviceMixError) and "embedding" not in plain.traceback[-1].name


@pytest.mark.parametrize("attention", ["eager", "sdpa"])
def test_meta_memory_matches_what_the_cpu_allocates_for_the_same_code(attention, small_model_json, items):
    """The prediction the sizing command makes (live bytes on meta, above the weights) against the bytes the CPU
    allocator really hands out for the same calls on the real SmolLM2-135M: within 5% (measured: 0.1%)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    path = json.loads(small_model_json.read_text())["path"]
    real = AutoModelForCausalLM.from_pretrained(path, attn_implementation=attention).eval()
    meta = meta_model(AutoConfig.from_pretrained(path), torch.float32, attention)
    vectors = {f"v{index}": torch.randn(real.config.hidden_size) for index in range(6)}

    def evaluate(model):
        return lambda: propensity_table(SteeringEngine(model, 2048, 8), items, 10, vectors, [-1.0, 0.0, 1.0])

    actual = cpu_allocated_peak(evaluate(real))
    weights = resident_bytes(meta)
    with FakeAccelerator(weights) as fake:
        evaluate(meta)()
    predicted = fake.peak - weights
    assert actual > 20e6  # the comparison is about tens of MB of activations, not noise
    assert abs(predicted - actual) <= 0.05 * actual, (predicted, actual)


# The size command's run shares a worker with the tiny workflow run (conftest.py); the gpu-check run does not.
@pytest.mark.xdist_group("tiny_run")
def test_the_size_command_reports_the_measured_peaks_and_what_fits(tmp_path, small_model_json):
    """The sizing command on the tiny study's embedded model: the peaks it prints are the weights plus what the
    engine allocates, and a GPU between the weights and the need is said not to fit."""
    import yaml

    config = yaml.safe_load((REPO / "tests/config/tiny.yaml").read_text())
    del config["models"]["smollm2-local"]
    config["data"].update(mirror=str(TEST_MIRROR))
    config["models"][SMALL_MODEL]["layer"] = 10
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "steering_reliability", "size", str(tmp_path / "tiny.yaml")]
    command += ["--gpu-gb", "1", "80", "--budgets", "16384", "--models", str(REPO / "resources/models")]
    completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr[-3000:]
    rows = [line for line in completed.stdout.splitlines() if line.startswith(f"| {SMALL_MODEL} | 16384")]
    assert len(rows) == 1
    cells = [cell.strip() for cell in rows[0].strip("|").split("|")]
    weights, cache, evaluation, sweep, needed = (float(cell.split()[0]) for cell in cells[2:7])
    assert weights == pytest.approx(0.54, abs=0.006)  # 135M float32 parameters
    assert weights < min(cache, evaluation, sweep) < 1.0 and needed > 1.0
    assert cells[7:] == ["no", "fits"]
    assert f"- {SMALL_MODEL} on a 80 GB GPU: fits at its token budget 16384" in completed.stdout
    assert f"- {SMALL_MODEL} on a 1 GB GPU: does NOT fit, even at token budget 16384" in completed.stdout
    # model loads: one job per stage for 3 datasets (2 in the sweep) with the default grouping, 8 at one per job
    work = next(
        line for line in completed.stdout.splitlines() if line.startswith(f"| {SMALL_MODEL} | ") and "M" in line
    )
    cells = [cell.strip() for cell in work.strip("|").split("|")]
    assert cells[8] == "3 (8)"
    assert float(cells[9]) == pytest.approx(3 * (30 + 0.54) / 3600, rel=0.05)  # 3 loads of 0.54 GB at 30 s + 1 GB/s


# (not on the tiny run's worker: since the tiny study runs both answer orders, that worker is the longer one)
def test_the_gpu_check_command_runs_the_device_checks_and_times_the_study(tmp_path, small_model_json):
    """`steering-reliability gpu-check` on this machine's CPU (its code is the same for CUDA): the device checks of
    tests/test_gpu.py run and are tabled with what they measured, the throughput is measured on the config's model
    with its shapes, and the study's time is predicted."""
    import re

    import yaml

    config = yaml.safe_load((REPO / "tests/config/tiny.yaml").read_text())
    del config["models"]["smollm2-local"]
    config["data"].update(mirror=str(TEST_MIRROR))
    config["compute"] = {"batch_size": 2}  # the throughput run's one timed pass: 2 x batch_size items (CI time)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "steering_reliability", "gpu-check", "--device", "cpu", "--seconds", "0.1"]
    command += ["--config", str(tmp_path / "tiny.yaml"), "--models", str(REPO / "resources/models")]
    completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-3000:]
    out = completed.stdout
    assert re.search(r"\| test_the_engine_on_the_device_matches_the_cpu \| passed \| [\d.]+ \| max", out)
    assert re.search(r"test_every_architecture_and_job_type_agrees_with_the_cpu\[gemma2-eager\] \| passed", out)
    assert re.search(
        r"test_peak_memory_on_the_device_is_what_the_sizing_predicts \| passed .* measured / predicted", out
    )
    assert "| test_a_workflow_job_with_device_cuda_runs_on_the_gpu | skipped |" in out
    rate = float(re.search(rf"- {SMALL_MODEL} \(its shapes.* at ([\d.]+) TFLOP/s", out).group(1))
    assert rate > 0  # printed to 2 decimals: a loaded 2-core machine measures 0.01-0.05
    assert re.search(rf"\| {SMALL_MODEL} \| 56 / 56 / 24 \|", out)  # predicted-time row: 2 orders, 1 OOD dataset
