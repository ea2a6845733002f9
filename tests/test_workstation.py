"""A workstation with several GPUs, faked (tests/stubs/fake_cuda: N CUDA devices whose work the CPU does): the
documented command runs the model jobs with at most N at once, each on a GPU of its own; a GPU that is held makes
the next job wait instead of sharing it; a GPU too small for the model, or without bfloat16, stops a job before it
loads anything."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from steering_reliability.model import devices
from steering_reliability.model.devices import DeviceError, claim_gpu, weights_dtype

from conftest import REPO, SMALL_MODEL, prepare_workdir, tiny_config, workflow_command

FAKE_CUDA = REPO / "tests" / "stubs" / "fake_cuda"
DATASETS = ["corrigible-neutral-HHH", "anti-LGBTQ-rights", "truthfulqa"]


def fake_gpus(count: int, memory_gb: float = 80) -> dict:
    path = os.pathsep.join(filter(None, [str(FAKE_CUDA), os.environ.get("PYTHONPATH")]))
    return dict(os.environ, PYTHONPATH=path, FAKE_CUDA_DEVICES=str(count), FAKE_CUDA_MEMORY_GB=str(memory_gb))


def test_the_workstation_command_gives_each_model_job_its_own_gpu(tmp_path, small_model_json):
    """README's command for N GPUs (`--resources gpu=N`), with more cores than GPUs and three activation jobs ready
    at once: never more than two model jobs at once on the two fake GPUs, never two at once on one GPU, both used."""
    config = tiny_config(full_study=False)
    config["data"]["datasets"] = DATASETS
    config["models"][SMALL_MODEL]["device"] = "cuda"
    config.setdefault("compute", {})["datasets_per_job"] = {"activations": 1}  # three jobs, not one
    workdir = prepare_workdir(tmp_path / "run", config)
    targets = [f"results/{SMALL_MODEL}/activations/{name}.safetensors" for name in DATASETS]
    command = workflow_command(workdir, *targets, "--cores", "3", "--resources", "gpu=2")
    completed = subprocess.run(command, env=fake_gpus(2), capture_output=True, text=True)
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-4000:]
    records = [
        json.loads(path.read_text()) for path in sorted((workdir / "logs" / SMALL_MODEL / "benchmarks").rglob("*.json"))
    ]
    assert len(records) == len(DATASETS)
    assert {record["device"] for record in records} == {"cuda:0", "cuda:1"}
    assert all(record["gpu"] in ("Fake GPU 0", "Fake GPU 1") for record in records)
    for record in records:
        during = [
            other for other in records if other["started"] < record["ended"] and record["started"] < other["ended"]
        ]
        assert len(during) <= 2, "more model jobs at once than GPUs"
        assert [other["device"] for other in during].count(record["device"]) == 1, "two jobs on one GPU at once"
    log = (workdir / f"logs/{SMALL_MODEL}/activations/truthfulqa.log").read_text()
    assert "model on cuda:" in log and "Fake GPU" in log


def _claim_in_a_process(env, seconds: float) -> subprocess.Popen:
    code = (
        "import sys, time, torch; from steering_reliability.model.devices import claim_gpu; "
        f"print(claim_gpu(torch.device('cuda'), wait_seconds=0.2), time.time(), flush=True); time.sleep({seconds}); "
        "print(time.time(), flush=True)"
    )
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)


def test_a_job_waits_for_a_held_gpu_instead_of_sharing_it(tmp_path):
    """Without --resources, more jobs than GPUs may start: the one without a free GPU waits for the first to end."""
    env = fake_gpus(1)
    first = _claim_in_a_process(env, seconds=2)
    claimed = first.stdout.readline()  # the first process holds the GPU (however long its imports took)
    second = _claim_in_a_process(env, seconds=0)
    first_out = (claimed + first.communicate(timeout=60)[0]).split()
    second_out = second.communicate(timeout=60)[0].split()
    assert first_out[0] == second_out[0] == "cuda:0"
    assert float(second_out[1]) >= float(first_out[2]), "the second job took the GPU while the first held it"


@pytest.fixture
def one_fake_gpu(monkeypatch, tmp_path):
    """In this process: one CUDA device with the given memory and compute capability."""
    import types
    import uuid

    def install(memory_gb: float = 24, capability=(8, 0)):
        properties = types.SimpleNamespace(
            name="Fake GPU", total_memory=int(memory_gb * 1e9), uuid=uuid.uuid4(), major=capability[0]
        )
        monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
        monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: properties)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla V100-SXM2-32GB")
        monkeypatch.setattr(devices, "LOCKS", tmp_path / "locks")

    return install


def test_a_gpu_smaller_than_the_model_needs_stops_the_job_before_it_loads(one_fake_gpu):
    one_fake_gpu(memory_gb=24)
    with pytest.raises(
        DeviceError, match=r"needs a GPU with 40 GB \(the model's gpu_memory_gb\); the largest .* 24.0 GB"
    ):
        claim_gpu(torch.device("cuda"), minimum_gb=40, what="rule evaluate_steering for model qwen1.5-14b-chat")
    assert claim_gpu(torch.device("cuda"), minimum_gb=16) == torch.device("cuda", 0)


def test_bfloat16_on_a_gpu_without_it_is_refused_or_falls_back_as_configured(one_fake_gpu, caplog):
    one_fake_gpu(capability=(7, 0))  # a V100
    cuda = torch.device("cuda", 0)
    with pytest.raises(DeviceError, match=r"bfloat16 weights on Tesla V100-SXM2-32GB \(compute capability 7.0\)"):
        weights_dtype(cuda, "bfloat16", None, "rule cache_activations for model gemma-2-2b-it")
    assert weights_dtype(cuda, "bfloat16", "float32") == "float32"
    assert "no native bfloat16" in caplog.text
    assert weights_dtype(cuda, "float16", None) == "float16"  # float16 runs on a V100
    one_fake_gpu(capability=(8, 0))  # an A100
    assert weights_dtype(cuda, "bfloat16", None) == "bfloat16"
