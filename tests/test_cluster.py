"""The SLURM profile really submits: the tiny workflow runs through profiles/slurm against stub
sbatch/sacct/squeue/scontrol/sinfo/srun commands (tests/stubs/slurm) that run each job locally
and record what was submitted. The Kubernetes profile is checked as far as it can be without a
cluster: it plans the study on S3 storage (a local moto server) with a GPU on each model job."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO, prepare_workdir, tiny_config, workflow_command

STUBS = REPO / "tests" / "stubs" / "slurm"
MODEL_RULES = {"cache_activations", "evaluate_steering", "layer_sweep"}
# the model rules of the in-distribution study (the tiny runs here leave out OOD and the sweep)
ID_MODEL_RULES = {"cache_activations", "evaluate_steering"}
# what the tiny model's jobs ask for (models.<name>.resources)
MODEL_RESOURCES = {"mem_mb": 3000, "runtime": 20}
LOCAL_RULES = {"fetch_raw_file", "prepare_model"}


def submitted_rule(argv: list[str]) -> str:
    comment = argv[argv.index("--comment") + 1]
    return re.match(r"rule_(\w+?)(_wildcards_.*)?$", comment).group(1)


def _slurm(workdir: Path, *extra: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    env = dict(os.environ, PATH=f"{STUBS}{os.pathsep}{os.environ['PATH']}", SLURM_STUB_DIR=str(workdir / "stub"))
    command = workflow_command(
        workdir,
        "--profile",
        str(REPO / "profiles" / "slurm"),
        "--slurm-no-account",
        "--slurm-init-seconds-before-status-checks",
        "1",
        "--jobs",
        "2",
        *extra,
    )
    completed = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
    ledger = workdir / "stub" / "jobs.jsonl"
    jobs = [json.loads(line) for line in ledger.read_text().splitlines()] if ledger.exists() else []
    return completed, jobs


def _one_dataset_study(**resources) -> dict:
    config = tiny_config(full_study=False)
    config["data"]["datasets"] = ["anti-LGBTQ-rights"]
    config["figures"]["example_dataset"] = "anti-LGBTQ-rights"
    config["models"]["smollm2-135m-instruct"]["resources"] = resources
    return config


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory, small_model_json):
    """The in-distribution tiny study on one dataset, submitted through the SLURM profile."""
    config = _one_dataset_study(**MODEL_RESOURCES)
    workdir = prepare_workdir(tmp_path_factory.mktemp("slurm") / "run", config)
    # the chain from the raw file to the steering vectors: data, layer, model and tensor jobs
    completed, jobs = _slurm(workdir, "results/smollm2-135m-instruct/vectors/anti-LGBTQ-rights.safetensors")
    return workdir, config, completed, jobs


def test_slurm_profile_run_completes(slurm_run):
    workdir, config, completed, jobs = slurm_run
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-4000:]
    model = next(iter(config["models"]))
    from steering_reliability.tensors import load_tensors

    assert load_tensors(workdir / f"results/{model}/vectors/anti-LGBTQ-rights.safetensors")[0]["baseline"].shape == (
        576,
    )
    # every submitted job ran to the end (the stub records each job's exit status)
    assert jobs and all((workdir / "stub" / f"{job['id']}.rc").read_text().strip() == "0" for job in jobs)


def test_every_job_but_the_downloads_went_through_sbatch(slurm_run):
    workdir, _, completed, jobs = slurm_run
    submitted = {submitted_rule(job["argv"]) for job in jobs}
    assert {"build_dataset", "choose_layer", "cache_activations", "steering_vectors"} == submitted
    assert not submitted & LOCAL_RULES, "download rules must run on the submitting host"
    assert all("--wrap" in " ".join(job["argv"]) and "--parsable" in job["argv"] for job in jobs)


def test_model_rules_ask_for_their_models_memory_and_runtime(slurm_run):
    _, _, _, jobs = slurm_run
    for job in jobs:
        argv, rule = job["argv"], submitted_rule(job["argv"])
        memory, runtime = argv[argv.index("--mem") + 1], argv[argv.index("-t") + 1]
        assert not any(arg.startswith("--gpus") for arg in argv), f"{rule} of a CPU model asked for a GPU"
        if rule in MODEL_RULES:
            assert (memory, runtime) == (str(MODEL_RESOURCES["mem_mb"]), str(MODEL_RESOURCES["runtime"])), rule
        else:
            assert (memory, runtime) == ("4000", "30"), rule
        assert argv[argv.index("-p") + 1] == "debug", "the default partition from sinfo"


def test_a_gpu_job_without_a_visible_gpu_fails_at_once(slurm_run):
    """A job that asked SLURM for a GPU must see one: here (a CPU-only torch) it stops before any work.

    Re-runs the activation job of the SLURM run above with the model asking for a GPU."""
    workdir, config, _, _ = slurm_run
    config = copy.deepcopy(config)
    config["models"]["smollm2-135m-instruct"].update(device="auto", resources={"gpu": 1, **MODEL_RESOURCES})
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    shutil.rmtree(workdir / "stub")  # a fresh stub scheduler: job ids start again
    target = "results/smollm2-135m-instruct/activations/anti-LGBTQ-rights.safetensors"
    completed, jobs = _slurm(workdir, target, "--forcerun", "cache_activations", "--retries", "0")
    assert completed.returncode != 0
    assert [submitted_rule(job["argv"]) for job in jobs] == ["cache_activations"]
    assert "--gpus=1" in jobs[0]["argv"]
    log = (workdir / "logs/smollm2-135m-instruct/activations/anti-LGBTQ-rights.log").read_text()
    assert "asked the scheduler for 1 GPU(s) but torch sees no CUDA device" in log
    assert "CPU-only build" in log
    assert "Loading weights" not in log, "the job loaded the model before checking for the GPU"


def test_model_job_resources_follow_the_model_and_the_attempt(tmp_path):
    from steering_reliability.job_resources import model_job_resources

    model_json = tmp_path / "model.json"
    model_json.write_text(json.dumps({"parameters": 7_000_000_000}))
    on_gpu = {"source": "huggingface", "id": "m", "layer": 1, "dtype": "bfloat16", "device": "cuda"}
    # bf16 weights of a 7B model stream to the GPU: host memory = 14000 MB of weights + 8000 MB
    assert model_job_resources(on_gpu, model_json) == {"gpu": 1, "mem_mb": 22000, "runtime": 120}
    assert model_job_resources(on_gpu, model_json, attempt=2) == {"gpu": 1, "mem_mb": 44000, "runtime": 240}
    model_json.write_text(json.dumps({"parameters": 135_000_000}))
    small = {"source": "embedded", "id": "m", "layer": 1, "dtype": "float32", "device": "auto"}
    # a 135M model on the CPU: twice its 540 MB of float32 weights + 4000 MB, and no GPU
    assert model_job_resources(small, model_json) == {"gpu": 0, "mem_mb": 5080, "runtime": 120}
    assert model_job_resources({**small, "resources": {"runtime": 30}}, model_json, 3)["runtime"] == 90


def test_hub_model_loads_where_the_preparing_hosts_cache_is_absent(tmp_path, small_model_json):
    """On Kubernetes, a pod has not the submitting host's hub cache that model.json points at:
    the model then comes from its id at the pinned revision (here a local directory stands in
    for the hub id, which from_pretrained treats the same way)."""
    from steering_reliability.models import load_model

    weights = json.loads(small_model_json.read_text())["path"]
    record = {"name": "m", "source": "huggingface", "id": weights, "revision": None, "path": "/absent/hub/cache"}
    (tmp_path / "model.json").write_text(json.dumps(record))
    model, tokenizer = load_model(tmp_path / "model.json")
    assert model.config.num_hidden_layers == 30 and tokenizer("(A)")["input_ids"]


@pytest.fixture
def s3_bucket(monkeypatch):
    """A local S3 endpoint (moto) with one bucket, standing in for the cluster's object store."""
    import boto3
    from moto.server import ThreadedMotoServer

    credentials = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}
    for key, value in credentials.items():
        monkeypatch.setenv(key, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    endpoint = f"http://127.0.0.1:{server.get_host_and_port()[1]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="steering")
    yield endpoint, "s3://steering/run"
    server.stop()


def test_kubernetes_profile_plans_the_study_on_object_storage(tmp_path, s3_bucket):
    """The Kubernetes profile (executor, S3 default storage, GPU) loads and plans the tiny study
    with every file in the bucket and a GPU on each model job. No pod is started: there is no
    Kubernetes cluster here."""
    endpoint, prefix = s3_bucket
    config = tiny_config(full_study=False)
    config["models"]["smollm2-135m-instruct"].update(device="cuda", resources=MODEL_RESOURCES)
    workdir = prepare_workdir(tmp_path / "run", config)
    profile = ["--profile", str(REPO / "profiles" / "kubernetes"), "--default-storage-prefix", prefix]
    command = workflow_command(workdir, "-n", *profile, "--storage-s3-endpoint-url", endpoint)
    completed = subprocess.run(command, capture_output=True, text=True)
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-4000:]
    blocks = dict(re.findall(r"rule (\w+):\n((?:    .*\n)+)", completed.stdout))
    assert ID_MODEL_RULES <= set(blocks)
    for rule, block in blocks.items():
        assert rule == "all" or f"output: {prefix}/" in block, block
        assert ("gpu=1" in block) == (rule in MODEL_RULES), block
