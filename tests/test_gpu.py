"""Checks of the accelerator a study will run on: the engine there agrees with the CPU for every paper
architecture and job type, in float32 and bfloat16, its memory is what the meta-device sizing predicts, an
out-of-memory pass is split, and a workflow job runs there. ``steering-reliability gpu-check`` runs these and
prints a table; by hand:

    python -m pytest -n 0 tests/test_gpu.py -v

The device is ``STEERING_RELIABILITY_CHECK_DEVICE`` (default ``cuda``); the tests are skipped where torch cannot
see it (every machine this project is developed on: there the command's own code is tested with ``cpu``).
Each test records what it measured (``record_property``), which the command prints.
"""

from __future__ import annotations

import os

import pytest
import torch

from steering_reliability.data.items import selected, split_items
from steering_reliability.data.prompts import encode_rows
from steering_reliability.model.activations import letter_activations
from steering_reliability.model.engine import Steering, SteeringEngine
from steering_reliability.model.evaluation import propensity_table
from steering_reliability.model.fake_device import FakeAccelerator, meta_model, resident_bytes
from steering_reliability.model.sweep import layer_sweep

from allocations import cpu_allocated_peak
from conftest import SMALL_MODEL, SMALL_MODEL_LAYER, load_real_items, prepare_workdir, run_workflow, tiny_config
from tiny_models import ATTENTION, tiny_model

DEVICE = torch.device(os.environ.get("STEERING_RELIABILITY_CHECK_DEVICE", "cuda"))


def _visible(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count()
    return device.type == "cpu"


pytestmark = pytest.mark.skipif(not _visible(DEVICE), reason=f"torch sees no {DEVICE} device")
CASES = [(architecture, attention) for architecture, choices in ATTENTION.items() for attention in choices]


@pytest.fixture(scope="module")
def items(small_model, datasets_dir):
    table = split_items(load_real_items(datasets_dir, "anti-LGBTQ-rights"), seed=0, max_items=8)
    return encode_rows(small_model[1], selected(table, "test"))


@pytest.fixture(scope="module")
def device_model(small_model_json):
    """SmolLM2-135M in float32 on the device, loaded as a model job loads it."""
    from steering_reliability.model.models import load_model

    return load_model(small_model_json, device=DEVICE)[0]


def _difference(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


def test_the_engine_on_the_device_matches_the_cpu(device_model, small_model, items, record_property):
    """SmolLM2-135M in float32: logit differences on the device against the CPU (TF32 and cuBLAS sums: not equal)."""
    model = device_model
    assert next(model.parameters()).device.type == DEVICE.type
    vector = torch.randn(model.config.hidden_size, generator=torch.Generator().manual_seed(1))
    steerings = [Steering(vector, m, SMALL_MODEL_LAYER) for m in (-1.0, 0.0, 1.0)]  # a CPU vector: moved over
    on_device = SteeringEngine(model, batch_size=16).logit_differences(items, steerings)
    on_cpu = SteeringEngine(small_model[0], batch_size=16).logit_differences(items, steerings)
    assert on_device.device.type == "cpu" and on_device.dtype == torch.float32  # results come back to the CPU
    record_property("max |difference| float32", f"{_difference(on_device, on_cpu):.2e}")
    assert torch.allclose(on_device, on_cpu, atol=1e-3, rtol=1e-3)


def test_bfloat16_weights_on_the_device_stay_near_float32(small_model_json, small_model, items, record_property):
    """bf16 weights (logits summed in float32) against float32 on the CPU: on this CPU bf16 moved SmolLM2's logit
    differences by up to 0.72 (README); a GPU's bf16 kernels should do no worse than 1.0."""
    from steering_reliability.model.devices import weights_dtype
    from steering_reliability.model.models import load_model

    dtype = weights_dtype(DEVICE, "bfloat16", None)  # refuses a GPU without native bfloat16
    model, _ = load_model(small_model_json, dtype=dtype, device=DEVICE)
    vector = torch.randn(model.config.hidden_size, generator=torch.Generator().manual_seed(1))
    steerings = [Steering(vector, m, SMALL_MODEL_LAYER) for m in (-1.0, 0.0, 1.0)]
    bf16 = SteeringEngine(model, batch_size=16).logit_differences(items, steerings)
    float32 = SteeringEngine(small_model[0], batch_size=16).logit_differences(items, steerings)
    record_property("max |bf16 - float32|", f"{_difference(bf16, float32):.3f}")
    assert _difference(bf16, float32) < 1.0


def _three_jobs(model, items):
    """The three model jobs' computations on ``items``, float32 results on the CPU."""
    engine = SteeringEngine(model, token_budget=1024, batch_size=4)
    cached = letter_activations(engine, items, [1])["positive"]
    generator = torch.Generator().manual_seed(3)
    vectors = {name: torch.randn(model.config.hidden_size, generator=generator) for name in ("baseline", "SYS_pos")}
    table, _ = propensity_table(engine, items, 1, vectors, [-1.0, 0.0, 1.0])
    layers = list(range(model.config.num_hidden_layers))
    sweep = layer_sweep(engine, letter_activations(engine, items[:2], layers), items[2:], layers, [-1.0, 1.0])
    return cached, torch.tensor(table["logit_diff"].to_numpy()), torch.tensor(sweep["logit_diff"].to_numpy())


@pytest.mark.parametrize("case", CASES, ids=[f"{a}-{b}" for a, b in CASES])
def test_every_architecture_and_job_type_agrees_with_the_cpu(case, items, record_property):
    """Tiny Llama, Qwen2 and Gemma-2 (eager attention, soft-capping) models: the three job types on the device
    against the same code on the CPU."""
    on_cpu = _three_jobs(tiny_model(*case), items)
    on_device = _three_jobs(tiny_model(*case).to(DEVICE), items)
    differences = [_difference(a, b) for a, b in zip(on_device, on_cpu)]
    record_property("max |difference| cache / evaluate / sweep", " / ".join(f"{d:.1e}" for d in differences))
    assert max(differences) < 1e-3


def test_peak_memory_on_the_device_is_what_the_sizing_predicts(small_model_json, device_model, items, record_property):
    """SmolLM2-135M evaluated at token budget 2048: the bytes the device's allocator peaks at (CUDA:
    max_memory_allocated; CPU: torch.profiler's allocation records) against the meta-device count that
    `steering-reliability size` reports, above the weights."""
    import json

    from transformers import AutoConfig

    model = device_model
    attention = model.config._attn_implementation
    meta = meta_model(
        AutoConfig.from_pretrained(json.loads(small_model_json.read_text())["path"]), torch.float32, attention
    )
    vectors = {f"v{index}": torch.randn(model.config.hidden_size) for index in range(6)}

    def evaluate(on):
        return lambda: propensity_table(SteeringEngine(on, 2048, 8), items, SMALL_MODEL_LAYER, vectors, [-1.0, 1.0])

    actual = _device_peak(evaluate(model))
    weights = resident_bytes(meta)
    with FakeAccelerator(weights) as fake:
        evaluate(meta)()
    predicted = fake.peak - weights
    record_property("peak above the weights: measured / predicted", f"{actual / 1e6:.1f} / {predicted / 1e6:.1f} MB")
    assert 0.8 * actual <= predicted <= 1.25 * actual


def _device_peak(compute) -> int:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)
        base = torch.cuda.memory_allocated(DEVICE)
        torch.cuda.reset_peak_memory_stats(DEVICE)
        compute()
        return torch.cuda.max_memory_allocated(DEVICE) - base
    return cpu_allocated_peak(compute)


def test_an_out_of_memory_pass_on_the_device_is_split(items, record_property):
    """An out-of-memory error raised once in a pass: the engine splits it and goes on. On the CPU the numbers are
    bit-identical; on a GPU the halves' matrix products may round differently (recorded)."""
    model = tiny_model("qwen2", "sdpa").to(DEVICE)
    vector = torch.randn(model.config.hidden_size, generator=torch.Generator().manual_seed(5))
    steerings = [Steering(vector, m, 1) for m in (-1.0, 0.0, 1.0)]
    whole = SteeringEngine(model, batch_size=8).logit_differences(items, steerings)
    engine = SteeringEngine(model, batch_size=8)
    raised = []

    def out_of_memory(module, args, kwargs):
        if not raised and (args[0] if args else kwargs["hidden_states"]).shape[0] > 1:
            raised.append(1)
            raise torch.OutOfMemoryError("CUDA out of memory (raised by the check)")

    engine.blocks[1].register_forward_pre_hook(out_of_memory, with_kwargs=True)
    split = engine.logit_differences(items, steerings)
    record_property("passes split / max |difference|", f"{engine.splits} / {_difference(split, whole):.1e}")
    assert engine.splits == 1 and _difference(split, whole) < 1e-3


@pytest.mark.skipif(DEVICE.type != "cuda", reason="the workflow job is checked on CUDA only")
def test_a_workflow_job_with_device_cuda_runs_on_the_gpu(tmp_path, small_model_json, record_property):
    import json

    config = tiny_config(full_study=False)
    config["data"]["datasets"] = ["anti-LGBTQ-rights"]
    config["figures"]["example_dataset"] = "anti-LGBTQ-rights"
    config["models"][SMALL_MODEL]["device"] = "cuda"
    workdir = prepare_workdir(tmp_path / "run", config)
    run_workflow(workdir, f"results/{SMALL_MODEL}/activations/anti-LGBTQ-rights.safetensors")
    log = (workdir / f"logs/{SMALL_MODEL}/activations/anti-LGBTQ-rights.log").read_text()
    assert "model on cuda" in log, log
    memory = json.loads(next((workdir / "logs").rglob("*.memory.json")).read_text())
    record_property("job's peak GPU memory", f"{memory['gpu_peak_allocated_bytes'] / 1e6:.0f} MB on {memory['gpu']}")
    assert memory["gpu_peak_allocated_bytes"] > 100e6  # the weights (540 MB in fp32) were on the GPU
