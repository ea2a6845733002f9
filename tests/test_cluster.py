"""The SLURM profile really submits: the tiny workflow runs through profiles/slurm against stub
sbatch/sacct/squeue/scontrol/sinfo/srun commands (tests/stubs/slurm) that run each job locally
and record what was submitted. The Kubernetes profile is checked as far as it can be without a
cluster: it plans the study on S3 storage (a local moto server) with a GPU on each model job."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from conftest import REPO, prepare_workdir, tiny_config, workflow_command

STUBS = REPO / "tests" / "stubs" / "slurm"
MODEL_RULES = {"cache_activations", "evaluate_steering", "evaluate_ood", "layer_sweep"}
# the model rules of the in-distribution study (the tiny runs here leave out OOD and the sweep)
ID_MODEL_RULES = {"cache_activations", "evaluate_steering"}
LOCAL_RULES = {"fetch_raw_file", "prepare_model"}


def submitted_rule(argv: list[str]) -> str:
    comment = argv[argv.index("--comment") + 1]
    return re.match(r"rule_(\w+?)(_wildcards_.*)?$", comment).group(1)


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory, small_model_json):
    """The in-distribution tiny study on one dataset, submitted through the SLURM profile."""
    config = tiny_config(full_study=False)
    config["data"]["datasets"] = ["corrigible-neutral-HHH"]
    workdir = prepare_workdir(tmp_path_factory.mktemp("slurm") / "run", config)
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
    )
    completed = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
    ledger = workdir / "stub" / "jobs.jsonl"
    jobs = [json.loads(line) for line in ledger.read_text().splitlines()] if ledger.exists() else []
    return workdir, config, completed, jobs


def test_slurm_profile_run_completes(slurm_run):
    workdir, config, completed, jobs = slurm_run
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-4000:]
    model = next(iter(config["models"]))
    for figure in ("fig1_steerability_distribution", "fig4_propensity_curves"):
        assert (workdir / f"results/{model}/figures/{figure}.png").stat().st_size > 0
    manifest = json.loads((workdir / f"results/{model}/manifest.json").read_text())
    assert manifest["artifacts"], "the manifest lists no artifacts"
    # every submitted job ran to the end (the stub records each job's exit status)
    assert jobs and all((workdir / "stub" / f"{job['id']}.rc").read_text().strip() == "0" for job in jobs)


def test_every_job_but_the_downloads_went_through_sbatch(slurm_run):
    workdir, _, completed, jobs = slurm_run
    submitted = {submitted_rule(job["argv"]) for job in jobs}
    assert ID_MODEL_RULES <= submitted
    assert {"build_dataset", "caa_vector", "steerability_table", "bias_regression", "manifest"} <= submitted
    assert not submitted & LOCAL_RULES, "download rules must run on the submitting host"
    assert all("--wrap" in " ".join(job["argv"]) and "--parsable" in job["argv"] for job in jobs)


def test_model_rules_ask_for_a_gpu_memory_and_runtime(slurm_run):
    _, _, _, jobs = slurm_run
    for job in jobs:
        argv, rule = job["argv"], submitted_rule(job["argv"])
        memory, runtime = argv[argv.index("--mem") + 1], argv[argv.index("-t") + 1]
        if rule in MODEL_RULES:
            assert "--gpus=1" in argv, f"{rule} asked for no GPU: {argv}"
            assert (memory, runtime) == ("8000", "120"), rule
        else:
            assert not any(arg.startswith("--gpus") for arg in argv), f"{rule} asked for a GPU"
            assert (memory, runtime) == ("4000", "30"), rule
        assert argv[argv.index("-p") + 1] == "debug", "the default partition from sinfo"


def _dry_run(tmp_path, *extra: str) -> str:
    workdir = prepare_workdir(tmp_path / "run", tiny_config())
    completed = subprocess.run(workflow_command(workdir, "-n", *extra), capture_output=True, text=True)
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-4000:]
    return completed.stdout


@pytest.mark.parametrize("gpu", [0, 1])
def test_model_job_resources_come_from_config(tmp_path, gpu):
    """compute.model_job, as the profiles set it through --config, reaches the model rules only."""
    out = _dry_run(tmp_path, "--config", f"compute={{model_job: {{gpu: {gpu}, mem_mb: 12000, runtime: 90}}}}")
    blocks = re.findall(r"rule (\w+):\n((?:    .*\n)+)", out)
    assert MODEL_RULES <= {rule for rule, _ in blocks}
    for rule, block in blocks:
        resources = block.split("resources:")[-1]
        if rule in MODEL_RULES:
            assert "mem_mb=12000" in resources and "runtime=90" in resources, block
            assert ("gpu=1" in resources) == bool(gpu), block
        else:
            assert "gpu=" not in resources, block


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
    workdir = prepare_workdir(tmp_path / "run", tiny_config(full_study=False))
    profile = ["--profile", str(REPO / "profiles" / "kubernetes"), "--default-storage-prefix", prefix]
    command = workflow_command(workdir, "-n", *profile, "--storage-s3-endpoint-url", endpoint)
    completed = subprocess.run(command, capture_output=True, text=True)
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-4000:]
    blocks = dict(re.findall(r"rule (\w+):\n((?:    .*\n)+)", completed.stdout))
    assert ID_MODEL_RULES <= set(blocks)
    for rule, block in blocks.items():
        assert rule == "all" or f"output: {prefix}/" in block, block
        assert ("gpu=1, gpu_manufacturer=nvidia" in block) == (rule in MODEL_RULES), block
