"""The cluster paths, through the executor plugins' own job-submission code:

* SLURM: the tiny workflow runs through profiles/slurm against stub sbatch/sacct/squeue/scontrol/sinfo/srun/
  sacctmgr commands (tests/stubs/slurm) that run each job locally and record what was submitted; and the model jobs
  of config/paper.yaml's models are submitted (recorded, not run: this machine cannot load them) with the profile's
  partition and account filled in as a user would, so the sbatch flags of every model rule are checked.
* Kubernetes: snakemake-executor-plugin-kubernetes submits the same model jobs to a fake Kubernetes API server
  (tests/fake_kubernetes.py) through the real kubernetes client, with S3 storage on a local moto server; the Job
  bodies it would have created are checked (GPU request, toleration, memory, disk, the weights volume).
"""

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

from conftest import REPO, TEST_CHECKSUMS, TEST_MIRROR, prepare_workdir, tiny_config, workflow_command

STUBS = REPO / "tests" / "stubs" / "slurm"
MODEL_RULES = {"cache_activations", "evaluate_steering", "layer_sweep"}
# the model rules of the in-distribution study (the tiny runs here leave out OOD and the sweep)
ID_MODEL_RULES = {"cache_activations", "evaluate_steering"}
# the jobs of a model stage are rules <stage>_<n>, one per group of datasets (compute.datasets_per_job)
GROUPED_RULES = {f"{rule}_1" for rule in MODEL_RULES}
# what the tiny model's jobs ask for (models.<name>.resources)
MODEL_RESOURCES = {"mem_mb": 3000, "runtime": 20}
LOCAL_RULES = {"fetch_raw_file", "prepare_model"}


def submitted_rule(argv: list[str]) -> str:
    """The rule of a submission, a model stage's job named by its stage (cache_activations_2: cache_activations)."""
    comment = argv[argv.index("--comment") + 1]
    return stage(re.match(r"rule_(\w+?)(_wildcards_.*)?$", comment).group(1))


def stage(rule: str) -> str:
    return re.sub(r"_\d+$", "", rule)


def _slurm(workdir: Path, *extra: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    env = dict(os.environ, PATH=f"{STUBS}{os.pathsep}{os.environ['PATH']}", SLURM_STUB_DIR=str(workdir / "stub"))
    command = workflow_command(
        workdir,
        "--profile",
        str(REPO / "profiles" / "slurm"),
        "--slurm-no-account",
        "--slurm-init-seconds-before-status-checks",
        "1",
        # the stub's jobs finish in seconds: poll every second, not every 10 s (each job of the chain waited a poll)
        "--seconds-between-status-checks",
        "1",
        "--max-status-checks-per-second",
        "100",
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
    # the chain from the raw file to the activation cache: data, layer and model jobs (each job is one more
    # Snakemake start on the fake cluster, so the chain stops at the first model job)
    completed, jobs = _slurm(workdir, "results/smollm2-135m-instruct/activations/anti-LGBTQ-rights.safetensors")
    return workdir, config, completed, jobs


def test_slurm_profile_run_completes(slurm_run):
    workdir, config, completed, jobs = slurm_run
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-4000:]
    model = next(iter(config["models"]))
    from steering_reliability.run.tensors import load_tensors

    cache = load_tensors(workdir / f"results/{model}/activations/anti-LGBTQ-rights.safetensors")[0]
    assert cache["baseline.positive"].shape[-1] == 576
    # every submitted job ran to the end (the stub records each job's exit status)
    assert jobs and all((workdir / "stub" / f"{job['id']}.rc").read_text().strip() == "0" for job in jobs)


def test_every_job_but_the_downloads_went_through_sbatch(slurm_run):
    workdir, _, completed, jobs = slurm_run
    submitted = {submitted_rule(job["argv"]) for job in jobs}
    assert {"build_dataset", "choose_layer", "cache_activations"} == submitted
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
    completed, jobs = _slurm(workdir, target, "--forcerun", "cache_activations_1", "--retries", "0")
    assert completed.returncode != 0
    assert [submitted_rule(job["argv"]) for job in jobs] == ["cache_activations"]
    assert "--gpus=1" in jobs[0]["argv"]
    log = (workdir / "logs/smollm2-135m-instruct/activations/anti-LGBTQ-rights.log").read_text()
    assert "asked the scheduler for 1 GPU(s) but torch sees no CUDA device" in log
    assert "CPU-only build" in log
    assert "Loading weights" not in log, "the job loaded the model before checking for the GPU"


def test_model_job_resources_follow_the_model_and_the_attempt(tmp_path):
    from steering_reliability.run.job_resources import model_job_resources

    model_json = tmp_path / "model.json"
    model_json.write_text(json.dumps({"parameters": 7_000_000_000}))
    on_gpu = {"source": "huggingface", "id": "m", "layer": 1, "dtype": "bfloat16", "device": "cuda"}
    compute = {"token_budget": 16384}

    def requested(entry, attempt=1):
        resources = model_job_resources(entry, model_json, attempt, compute)
        return {name: value for name, value in resources.items() if value is not None}

    # bf16 weights of a 7B model stream to the GPU: host memory = 14000 MB of weights + 8000 MB
    base = {"gpu": 1, "gpu_manufacturer": "nvidia", "mem_mb": 22000, "runtime": 120, "disk_mb": 10000}
    assert requested(on_gpu) == {**base, "token_budget": 16384}
    # a retry: twice the memory and runtime, half the token budget (one item's copies over more passes)
    assert requested(on_gpu, attempt=2) == {**base, "mem_mb": 44000, "runtime": 240, "token_budget": 8192}
    # the plugins' own resource names pass through, per model; the model's own token budget wins
    scheduled = {**on_gpu, "token_budget": 4096, "resources": {"gpu_model": "a100", "slurm_partition": "gpu"}}
    assert requested(scheduled) == {**base, "gpu_model": "a100", "slurm_partition": "gpu", "token_budget": 4096}
    model_json.write_text(json.dumps({"parameters": 135_000_000}))
    small = {"source": "embedded", "id": "m", "layer": 1, "dtype": "float32", "device": "auto"}
    # a 135M model on the CPU: twice its 540 MB of float32 weights + 4000 MB; no gpu resource at all
    assert requested(small) == {"mem_mb": 5080, "runtime": 120, "disk_mb": 10000, "token_budget": 16384}
    assert requested({**small, "resources": {"runtime": 30}}, 3)["runtime"] == 90
    # a job over 10 datasets (compute.datasets_per_job) asks for 10 times the runtime, the same memory
    grouped = model_job_resources({**small, "resources": {"runtime": 30}}, model_json, 1, compute, datasets=10)
    assert (grouped["runtime"], grouped["mem_mb"]) == (300, 5080)


def test_hub_model_loads_where_the_preparing_hosts_cache_is_absent(tmp_path, small_model_json):
    """On Kubernetes, a pod has not the submitting host's hub cache that model.json points at:
    the model then comes from its id at the pinned revision (here a local directory stands in
    for the hub id, which from_pretrained treats the same way)."""
    from steering_reliability.model.models import load_model

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


# -- the paper's models: what would be submitted --------------------------------------------------

PAPER = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
PAPER_DATASET = "corrigible-neutral-HHH"  # in the paper's study, its OOD study and its layer sweep
CPU_MODEL = "smollm2-135m-instruct"
TARGETS = {
    "cache_activations": "results/{model}/activations/{dataset}.safetensors",
    "evaluate_steering": "results/{model}/steering/{dataset}/items.parquet",
    "layer_sweep": "results/{model}/sweep/{dataset}/propensities.parquet",
}
# the inputs of the model rules, made up: no job runs, so only their presence matters
STAND_INS = [
    "results/datasets/{dataset}.parquet",
    "results/datasets/persona_sentences.json",
    "resources/models/{model}/model.json",
    "results/{model}/layer.json",
    "results/{model}/vectors/{dataset}.safetensors",
]
# A site's own scheduling, per model, as a user writes it into the model entries (the plugins' own names)
SITE = {
    "qwen1.5-14b-chat": {
        "gpu_model": "a100",  # SLURM: --gpus=a100:1
        "constraint": "gpu80gb",  # SLURM: -C
        "slurm_partition": "gpu-large",
        "machine_type": "a2-highgpu-1g",  # Kubernetes: a node selector
    }
}


def paper_config(**compute) -> dict:
    """config/paper.yaml on the test mirror's datasets, with an embedded CPU model beside the paper's three."""
    config = copy.deepcopy(PAPER)
    config["data"].update(mirror=str(TEST_MIRROR), checksums=str(TEST_CHECKSUMS))
    config["data"]["datasets"] = [PAPER_DATASET, "myopic-reward"]
    config["sweep"]["datasets"] = [PAPER_DATASET]
    config["compute"].update(compute)
    config["models"][CPU_MODEL] = {"source": "embedded", "id": CPU_MODEL, "layer": 10, "device": "cpu"}
    config["models"][CPU_MODEL]["prompt_format"] = "repepo-qwen-chat"  # paper-exact needs a repepo format
    for name, site in SITE.items():
        config["models"][name]["resources"] = {**config["models"][name].get("resources", {}), **site}
    return config


def paper_stand_ins(config: dict) -> dict[str, bytes]:
    files = {}
    for model, entry in config["models"].items():
        record = {"name": model, "source": entry["source"], "id": entry["id"], "path": "/not/prepared/here"}
        for pattern in STAND_INS:
            for dataset in config["data"]["datasets"]:
                path = pattern.format(model=model, dataset=dataset)
                files[path] = json.dumps({**record, "layer": 1}).encode() if path.endswith(".json") else b"stand-in"
    return files


def paper_targets(config: dict) -> list[str]:
    return [pattern.format(model=m, dataset=PAPER_DATASET) for m in config["models"] for pattern in TARGETS.values()]


def expected(config: dict, model: str, attempt: int = 1, datasets: int = 1) -> dict:
    from steering_reliability.run.job_resources import model_job_resources

    entry = config["models"][model]
    entry = {"dtype": "float32", "device": "auto", **entry}
    return model_job_resources(entry, None, attempt, config["compute"], datasets=datasets)


def job_datasets(config: dict, rule: str) -> int:
    """How many datasets one job of the stage covers in paper_config (paper.yaml groups them: all in one job)."""
    return len(config["sweep"]["datasets"] if rule == "layer_sweep" else config["data"]["datasets"])


def submitted_model(comment: str) -> str:
    """The model of a paper submission's comment: rule_<rule>_<n>_wildcards_<model>."""
    return re.fullmatch(r"rule_\w+?_\d+_wildcards_(.+)", comment).group(1)


@pytest.fixture(scope="module")
def slurm_paper(tmp_path_factory):
    """The model jobs of paper.yaml's three models, submitted through profiles/slurm with the partition and account
    a user fills in; the stub records each submission and reports the job failed. (A CPU model's jobs: slurm_run;
    the retry's resources: the Kubernetes test.)"""
    config = paper_config()
    del config["models"][CPU_MODEL]
    workdir = tmp_path_factory.mktemp("slurm_paper") / "run"
    workdir.mkdir()
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    for path, content in paper_stand_ins(config).items():
        (workdir / path).parent.mkdir(parents=True, exist_ok=True)
        (workdir / path).write_bytes(content)
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    profile["default-resources"].update(slurm_partition="gpu", slurm_account="lab-gpu")  # the user's two lines
    (workdir / "profile").mkdir()
    (workdir / "profile" / "config.yaml").write_text(yaml.safe_dump(profile))
    env = dict(
        os.environ,
        PATH=f"{STUBS}{os.pathsep}{os.environ['PATH']}",
        SLURM_STUB_DIR=str(workdir / "stub"),
        SLURM_STUB_RECORD_ONLY="1",
    )
    command = workflow_command(
        workdir,
        "--profile",
        str(workdir / "profile"),
        "--slurm-init-seconds-before-status-checks",
        "1",
        "--retries",
        "0",
        "--seconds-between-status-checks",
        "1",
        "--max-status-checks-per-second",
        "100",
        "--allowed-rules",
        *GROUPED_RULES,
        "--keep-going",
        *paper_targets(config),
    )
    completed = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
    jobs = [json.loads(line) for line in (workdir / "stub" / "jobs.jsonl").read_text().splitlines()]
    return config, completed, jobs


def _flag(argv: list[str], name: str) -> str | None:
    for index, arg in enumerate(argv):
        if arg == name:
            return argv[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def test_slurm_submits_every_model_rule_of_the_paper_models_with_their_resources(slurm_paper):
    config, completed, jobs = slurm_paper
    assert completed.returncode != 0  # the stub ran nothing: every job "failed", after its submissions
    by_job = {}
    for job in jobs:
        by_job.setdefault(job["argv"][job["argv"].index("--comment") + 1], []).append(job["argv"])
    seen = set()
    for comment, submissions in by_job.items():
        rule, model = submitted_rule(submissions[0]), submitted_model(comment)
        seen.add((rule, model))
        assert rule in MODEL_RULES
        assert len(submissions) == 1, f"{comment}: submitted {len(submissions)} times"
        for attempt, argv in enumerate(submissions, start=1):
            # one job for the stage's datasets: the model's runtime per dataset, times the datasets
            want = expected(config, model, attempt, job_datasets(config, rule))
            assert _flag(argv, "--mem") == str(want["mem_mb"]) and _flag(argv, "-t") == str(want["runtime"]), comment
            assert _flag(argv, "-p") == want["slurm_partition"] or (model not in SITE and _flag(argv, "-p") == "gpu")
            assert _flag(argv, "-A") == "lab-gpu"
            gpus = _flag(argv, "--gpus")
            if model == CPU_MODEL:
                assert gpus is None, f"{comment}: a CPU model's job asked for a GPU"
            else:
                kind = SITE.get(model, {}).get("gpu_model")
                assert gpus == (f"{kind}:1" if kind else "1"), comment
                assert _flag(argv, "-C") == SITE.get(model, {}).get("constraint"), comment
            assert f"--attempt {attempt}" in _flag(argv, "--wrap"), comment  # the job step evaluates its resources
    assert seen == {(rule, model) for rule in MODEL_RULES for model in config["models"]}


def _kubernetes(tmp_path, s3_bucket, config, *targets, extra=()):
    """Run the workflow through profiles/kubernetes against the fake API server: (process, the Job bodies)."""
    import boto3

    from fake_kubernetes import FakeKubernetes

    endpoint, prefix = s3_bucket
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    bucket = boto3.client("s3", endpoint_url=endpoint)
    for path, content in paper_stand_ins(config).items():
        bucket.put_object(Bucket="steering", Key=f"run/{path}", Body=content)
    with FakeKubernetes() as api:
        env = dict(os.environ, KUBECONFIG=str(api.kubeconfig(tmp_path / "kubeconfig")))
        command = workflow_command(
            workdir,
            "--profile",
            str(REPO / "profiles" / "kubernetes"),
            "--default-storage-prefix",
            prefix,
            "--storage-s3-endpoint-url",
            endpoint,
            "--container-image",
            "registry.example/steering-reliability:test",
            "--seconds-between-status-checks",
            "1",
            "--max-status-checks-per-second",
            "100",
            *targets,
            *extra,  # after the targets: the plugin's list options take every argument that follows them
        )
        completed = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    return completed, api.jobs


def test_kubernetes_submits_every_model_rule_of_the_paper_models_as_pods_that_fit(tmp_path, s3_bucket):
    config = paper_config(hub_cache="/models/hub", prepare_models="job")
    completed, jobs = _kubernetes(
        tmp_path,
        s3_bucket,
        config,
        *paper_targets(config),
        extra=("--allowed-rules", *GROUPED_RULES, "--keep-going", "--kubernetes-persistent-volumes", "models:/models"),
    )
    assert jobs, (completed.stdout + completed.stderr)[-4000:]
    seen = set()
    for job in jobs:
        pod = job["spec"]["template"]["spec"]
        container = pod["containers"][0]
        command = container["args"][-1]
        rule = stage(re.search(r"--target-jobs '?(\w+):", command).group(1))
        model = re.search(r"model=([\w.-]+)", command).group(1)
        seen.add((rule, model))
        attempt = int(re.search(r"--attempt (\d+)", command).group(1))  # every job fails here: the retry is attempt 2
        want = expected(config, model, attempt, job_datasets(config, rule))
        requests = container["resources"]["requests"]
        assert requests["memory"] == f"{want['mem_mb']}M" and requests["ephemeral-storage"] == f"{want['disk_mb']}M"
        mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
        assert mounts["models"] == "/models", "the volume that holds compute.hub_cache is mounted in every job"
        claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if v.get("persistentVolumeClaim")]
        assert claims == ["models"]
        node_type = SITE.get(model, {}).get("machine_type")
        assert (pod.get("nodeSelector") or {}) == ({"node.kubernetes.io/instance-type": node_type} if node_type else {})
        if model == CPU_MODEL:
            assert "nvidia.com/gpu" not in requests and not pod.get("tolerations"), f"{rule} {model}"
        else:
            assert requests["nvidia.com/gpu"] == "1", f"{rule} {model}"
            assert pod["tolerations"] == [
                {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}
            ]
    assert seen == {(rule, model) for rule in MODEL_RULES for model in config["models"]}


def test_kubernetes_refuses_hub_weights_that_every_pod_would_download_again(tmp_path, s3_bucket):
    """Without a shared filesystem each pod starts empty: compute.hub_cache inside the working directory would
    mean one download per job. The run stops before submitting anything, naming the key and the fix."""
    completed, jobs = _kubernetes(tmp_path, s3_bucket, paper_config(), "results/datasets/myopic-reward.parquet")
    assert completed.returncode != 0 and not jobs
    message = completed.stdout + completed.stderr
    assert "compute.hub_cache: resources/hub" in message and "prepare_models: job" in message
