"""On a CUDA machine: the engine and one workflow job really run on the GPU. Skipped where torch sees no
CUDA device (every machine this project is developed on), so a GPU user verifies the GPU path with

    python -m pytest tests/test_gpu.py -v
"""

from __future__ import annotations

import pytest
import torch

from steering_reliability.engine import Steering, SteeringEngine
from steering_reliability.items import selected, split_items
from steering_reliability.prompts import encode_rows

from conftest import SMALL_MODEL, SMALL_MODEL_LAYER, load_real_items, prepare_workdir, run_workflow, tiny_config

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible to torch")


@pytest.fixture(scope="module")
def items(small_model, datasets_dir):
    table = split_items(load_real_items(datasets_dir, "anti-LGBTQ-rights"), seed=0, max_items=8)
    return encode_rows(small_model[1], selected(table, "test"))


def test_engine_on_cuda_matches_the_cpu_and_keeps_its_tensors_on_the_gpu(small_model_json, small_model, items):
    from steering_reliability.models import load_model

    gpu_model, _ = load_model(small_model_json, device="cuda")
    assert next(gpu_model.parameters()).device.type == "cuda"
    vector = torch.randn(gpu_model.config.hidden_size, generator=torch.Generator().manual_seed(1))
    steerings = [Steering(vector, m, SMALL_MODEL_LAYER) for m in (-1.0, 0.0, 1.0)]  # a CPU vector: moved over
    on_gpu = SteeringEngine(gpu_model, batch_size=16).logit_differences(items, steerings)
    on_cpu = SteeringEngine(small_model[0], batch_size=16).logit_differences(items, steerings)
    assert on_gpu.device.type == "cpu" and on_gpu.dtype == torch.float32  # results come back to the CPU
    assert torch.allclose(on_gpu, on_cpu, atol=1e-3, rtol=1e-3)  # TF32/cuBLAS sums: not bit-identical
    assert torch.cuda.max_memory_allocated() > 100e6  # the weights (540 MB in fp32) were on the GPU


def test_a_workflow_job_with_device_cuda_runs_on_the_gpu(tmp_path, small_model_json):
    config = tiny_config(full_study=False)
    config["data"]["datasets"] = ["anti-LGBTQ-rights"]
    config["figures"]["example_dataset"] = "anti-LGBTQ-rights"
    config["models"][SMALL_MODEL]["device"] = "cuda"
    workdir = prepare_workdir(tmp_path / "run", config)
    run_workflow(workdir, f"results/{SMALL_MODEL}/activations/anti-LGBTQ-rights.safetensors")
    log = (workdir / f"logs/{SMALL_MODEL}/activations/anti-LGBTQ-rights.log").read_text()
    assert "model on cuda" in log, log
