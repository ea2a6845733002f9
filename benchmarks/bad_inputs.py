"""Bad inputs the way a user would make them: what does the workflow (or the CLI) say?

Every probe builds a fresh working directory from the tiny test config (tests/conftest.py:
``tiny_config(full_study=False)``, ``prepare_workdir``), spoils one thing and runs the
workflow as a user would: a dry run (``-n``) for config mistakes, whose errors must come
before any compute; a cheap real target (a dataset table, or once an activations file) for
bad raw files and damaged artifacts; or the ``steering-reliability`` command line.

Each outcome is exactly one of:

* clear: non-zero exit, no ``Traceback`` on the console, and the message names what is wrong
  (the probe's key, file, line or item). The message is the workflow's "ERROR in rule X: ..." lines
  (without their "(traceback in LOG)" pointer), else snakemake's error text without its banner,
  chatter, indented dumps and stack frames; for the CLI, all of its output;
* unclear: non-zero exit, no traceback, but the message does not name it (also a timeout or a
  probe whose setup failed: both are listed after the counts);
* traceback: a Python traceback on the console (snakemake's stdout/stderr, not a job's log);
* accepted: exit 0 although the input is bad.

    .venv/bin/python benchmarks/bad_inputs.py                   # every probe (about 10 minutes)
    .venv/bin/python benchmarks/bad_inputs.py --only multipliers
    .venv/bin/python benchmarks/bad_inputs.py --list

Prints one line per probe as it runs, then a markdown table and the count of each outcome.
Always exits 0: it is a report, not a test. Every command runs under ``nice -n 19``, one at a time.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from conftest import (  # noqa: E402
    SMALL_MODEL,
    TEST_CHECKSUMS,
    TEST_MIRROR,
    prepare_workdir,
    tiny_config,
    workflow_command,
)

OUTCOMES = ("clear", "unclear", "traceback", "accepted")
NICE = ["nice", "-n", "19"]
DELETE = object()  # a config value that removes the key

# Raw files of the test mirror (mirror layout) and the datasets built from them.
CORRIGIBLE = "corrigible-neutral-HHH"
CORRIGIBLE_RAW = "anthropic-evals/advanced-ai-risk/lm_generated_evals/corrigible-neutral-HHH.jsonl"
PERSONA = "anti-LGBTQ-rights"
PERSONA_RAW = "anthropic-evals/persona/anti-LGBTQ-rights.jsonl"
TRUTHFULQA_RAW = "truthfulqa/data/mc_task.json"
SYCOPHANCY = "sycophancy_test"
SYCOPHANCY_RAW = "caa/sycophancy/test_dataset.json"
PERSONA_PROMPTS_RAW = "repepo/repepo/experiments/persona_prompts.py"

PARQUET = f"results/datasets/{CORRIGIBLE}.parquet"
ACTIVATIONS = f"results/{SMALL_MODEL}/activations/{CORRIGIBLE}.safetensors"
VECTORS = f"results/{SMALL_MODEL}/vectors/{CORRIGIBLE}.safetensors"

# Lines of snakemake's own chatter, never the message about the bad input.
BOILERPLATE = (
    "Assuming unrestricted shared filesystem",
    "Building DAG of jobs",
    "Complete log",
    "Error in rule",
    "Execute ",
    "Exiting because",
    "Finished job",
    "Job stats",
    "Provided cores",
    "Removing output files",
    "Rules claiming more threads",
    "Select jobs",
    "Shutting down",
    "This was a dry-run",
    "Using shell",
    "host:",
    "job ",
    "localrule ",
    "rule ",
    "total ",
    "[",
)


@dataclass
class Probe:
    """One bad input: how to make it, how to run it, and what the message must name.

    ``names``: every entry must appear in the message; an entry that is a tuple is satisfied
    by any one of its strings (e.g. a key spelled ``data.max_items`` or ``['data']['max_items']``).
    """

    name: str
    group: str
    names: list
    config: Callable[[dict, Path], None] | None = None  # edits the tiny config (gets the probe's folder)
    setup: Callable[[Path], None] | None = None  # runs in the prepared working directory, before the command
    target: str | None = None  # a real target; None: a dry run of the default target
    command: Callable[[Path], list[str]] | None = None  # replaces the workflow command (CLI probes)
    whole_console: bool = False  # the message is all of the output (the CLI's), not snakemake's message lines
    note: str = ""


@dataclass
class Result:
    probe: Probe
    outcome: str
    first_line: str
    seconds: float
    exit_code: int | None
    console: str = field(repr=False)


# --- running commands -------------------------------------------------------------------------


def run(command: list[str], cwd: Path, timeout: float) -> tuple[int | None, str]:
    """(exit code or None on timeout, stdout + stderr) of ``command`` under ``nice``; its process group
    is killed on timeout, so no job of a hung snakemake is left behind."""
    process = subprocess.Popen(
        [*NICE, *command],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        return None, stdout + stderr
    return process.returncode, stdout + stderr


def snakemake(workdir: Path, *extra: str) -> list[str]:
    """The tests' workflow command (python -m snakemake ... --configfile config.yaml) on one core."""
    command = workflow_command(workdir, *extra)
    command[command.index("--cores") + 1] = "1"
    return command


def other_configfile(command: list[str], path: Path) -> list[str]:
    command[command.index("--configfile") + 1] = str(path)
    return command


def cli(*arguments: str) -> Callable[[Path], list[str]]:
    return lambda workdir: [sys.executable, "-m", "steering_reliability", *arguments]


def build(target: str) -> Callable[[Path], None]:
    """A setup step: make ``target`` for real first (its failure fails the probe's setup)."""

    def setup(workdir: Path) -> None:
        code, console = run(snakemake(workdir, target), workdir, timeout=300)
        if code != 0:
            raise RuntimeError(f"setup could not build {target}:\n{console[-2000:]}")

    return setup


def steps(*functions: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(workdir: Path) -> None:
        for function in functions:
            function(workdir)

    return setup


# --- reading the console ----------------------------------------------------------------------


def message_lines(console: str) -> list[str]:
    """The lines that carry the message, stripped: the workflow's one-line job errors if there are any, else
    snakemake's, without its banner, its chatter, the dumps and job details it indents by four spaces, stack
    frames and the bare file paths it lists."""
    lines = [line.rstrip() for line in console.splitlines()]
    job_errors = [re.sub(r" \(traceback in \S+\)$", "", line) for line in lines if line.startswith("ERROR in rule")]
    if job_errors:  # the pointer to the job's log is not the message (its path names the dataset anyway)
        return job_errors
    kept, in_banner = [], False
    for line in lines:
        if line.strip() == "SNAKEMAKE":  # the run's banner: date, command, config files, up to a blank line
            in_banner = True
        if in_banner or not line.strip() or line.startswith("    ") or line.startswith("\t"):
            in_banner = in_banner and bool(line.strip())
            continue
        line = line.strip()
        if not line.startswith((*BOILERPLATE, "File ")) and not re.fullmatch(r"\S+", line):
            kept.append(line)
    return kept


def first_line(console: str, code: int | None, whole: bool = False) -> str:
    """The line a user reads first: the job error, or the exception's message after snakemake's
    ``XError in file ..., line N:`` header; for a run that was accepted, what it did; for the CLI
    (``whole``), its first line that reports a problem."""
    if whole:
        lines = [line.strip() for line in console.splitlines() if line.strip()]
        problem = r"(?i)\b(error|differs|missing|no such|cannot|invalid|not|problems?|unrecognized)\b"
        return next((line for line in lines if re.search(problem, line)), lines[0] if lines else "(no output)")
    if code == 0:
        totals = re.findall(r"^total\s+(\d+)$", console, re.MULTILINE)
        if totals:
            return f"exit 0 ({'dry run: ' if 'dry-run' in console else ''}{totals[-1]} jobs)"
    lines = message_lines(console)
    headers = ("Error:", "Error validating config file.", "WorkflowError:")
    for line in lines:  # past snakemake's "XError in file ..., line N:" and similar headers
        if not re.match(r"^\w+ in (rule|file|line) .*:$", line) and line not in headers:
            if not line.startswith("Traceback"):
                return line
    rest = [line.strip() for line in console.splitlines() if line.strip()]
    return lines[0] if lines else rest[-1] if rest else "(no output)"


def names_all(text: str, names: list) -> bool:
    return all(any(option in text for option in (entry if isinstance(entry, tuple) else (entry,))) for entry in names)


def classify(code: int | None, console: str, names: list, whole: bool = False) -> str:
    """The outcome; ``whole``: the message is the whole console (the CLI's), not snakemake's message lines."""
    if code == 0:
        return "accepted"
    if "Traceback" in console:
        return "traceback"
    if code is not None and names_all(console if whole else "\n".join(message_lines(console)), names):
        return "clear"
    return "unclear"


def run_probe(probe: Probe, folder: Path, timeout: float) -> Result:
    start = time.perf_counter()
    folder.mkdir(parents=True)
    workdir = folder / "run"
    config = tiny_config(full_study=False)
    try:
        if probe.config:
            probe.config(config, folder)
        prepare_workdir(workdir, config)
        if probe.setup:
            probe.setup(workdir)
    except Exception as error:  # a broken probe is reported, not fatal
        return Result(probe, "unclear", f"SETUP FAILED: {error}".splitlines()[0], time.perf_counter() - start, None, "")
    if probe.command:
        command = probe.command(workdir)
    else:
        command = snakemake(workdir, probe.target) if probe.target else snakemake(workdir, "-n")
    code, console = run(command, workdir, timeout)
    (folder / "console.txt").write_text(console)
    outcome = classify(code, console, probe.names, whole=probe.whole_console)
    line = first_line(console, code, probe.whole_console) if code is not None else f"(timed out after {timeout:.0f} s)"
    return Result(probe, outcome, line, time.perf_counter() - start, code, console)


# --- making bad inputs ------------------------------------------------------------------------


def key(dotted: str) -> tuple[str, str]:
    """A config key as the workflow's own errors spell it (a.b) or as jsonschema does (['a']['b'])."""
    return dotted, "".join(f"['{part}']" for part in dotted.split("."))


def model_key(rest: str) -> tuple[str, str]:
    return key(f"models.{SMALL_MODEL}.{rest}")


def setting(**changes) -> Callable[[dict, Path], None]:
    """Config edits as dotted keys (``data__max_items=7``; ``MODEL`` stands for the model's entry)."""

    def edit(config: dict, folder: Path) -> None:
        for dotted, value in changes.items():
            *parents, last = dotted.replace("MODEL", SMALL_MODEL).split("__")
            node = config
            for part in parents:
                node = node.setdefault(part, {})
            if value is DELETE:
                node.pop(last, None)
            else:
                node[last] = copy.deepcopy(value)

    return edit


def rename_model(new_name: str) -> Callable[[dict, Path], None]:
    def edit(config: dict, folder: Path) -> None:
        config["models"] = {new_name: config["models"].pop(SMALL_MODEL)}

    return edit


def write_config(text: str) -> Callable[[Path], None]:
    """A setup step: replace config.yaml by ``text`` (for mistakes yaml.safe_dump cannot make)."""
    return lambda workdir: (workdir / "config.yaml").write_text(text)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def mirror_copy(config: dict, folder: Path, rehash: bool) -> Path:
    """Point data.mirror at a copy of the test mirror; with ``rehash``, data.checksums at the copy's
    own manifest (rewritten after the edit, so the parser's errors are reached)."""
    mirror = folder / "mirror"
    config["data"]["mirror"] = str(mirror)
    config["data"]["checksums"] = str(mirror / "MANIFEST.sha256") if rehash else str(TEST_CHECKSUMS)
    return mirror


def raw_probe(
    name: str,
    raw_path: str,
    change: Callable[[Path], None],
    names: list,
    dataset: str = CORRIGIBLE,
    rehash: bool = True,
    target: str | None = None,
    **changes,
) -> Probe:
    """A bad raw file: ``change`` edits ``raw_path`` in a copy of the test mirror; then ``target``
    (default: the dataset's table) is built for real."""
    state = {}

    def edit(config: dict, folder: Path) -> None:
        setting(**changes)(config, folder)
        if dataset not in config["data"]["datasets"]:
            config["data"]["datasets"] = [dataset, *config["data"]["datasets"][:-1]]
        state["mirror"] = mirror_copy(config, folder, rehash)

    def setup(workdir: Path) -> None:
        mirror = state["mirror"]
        shutil.copytree(TEST_MIRROR, mirror)
        change(mirror / raw_path)
        if rehash:
            manifest = mirror / "MANIFEST.sha256"
            lines = []
            for line in manifest.read_text().splitlines():
                digest, _, path = line.partition("  ")
                if path == raw_path:
                    line = f"{sha256(mirror / path) if (mirror / path).is_file() else digest}  {path}"
                lines.append(line)
            manifest.write_text("\n".join(lines) + "\n")

    return Probe(
        name, "raw data", names, config=edit, setup=setup, target=target or f"results/datasets/{dataset}.parquet"
    )


def jsonl_line(number: int, text: str) -> Callable[[Path], None]:
    """Replace line ``number`` (from 1) of a JSONL file."""

    def change(path: Path) -> None:
        lines = path.read_text(encoding="utf-8").splitlines()
        lines[number - 1] = text
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    return change


def jsonl_record(number: int, edit: Callable[[dict], object]) -> Callable[[Path], None]:
    """Edit the record on line ``number`` of a JSONL file (``edit`` changes it in place or returns a new one)."""

    def change(path: Path) -> None:
        lines = path.read_text(encoding="utf-8").splitlines()
        record = json.loads(lines[number - 1])
        result = edit(record)
        lines[number - 1] = json.dumps(record if result is None else result)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    return change


def json_item(index: int, edit: Callable[[dict], object]) -> Callable[[Path], None]:
    """Edit item ``index`` of a JSON list file (keeps its indentation style)."""

    def change(path: Path) -> None:
        records = json.loads(path.read_text(encoding="utf-8"))
        result = edit(records[index])
        if result is not None:
            records[index] = result
        path.write_text(json.dumps(records, indent=2), encoding="utf-8")

    return change


def truncate(fraction: float) -> Callable[[Path], None]:
    def change(path: Path) -> None:
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * fraction)])

    return change


def replace_text(old: str, new: str) -> Callable[[Path], None]:
    def change(path: Path) -> None:
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {path}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    return change


def write_bytes(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def set_field(name: str, value: object) -> Callable[[dict], None]:
    return lambda record: record.__setitem__(name, value)


def drop_field(name: str) -> Callable[[dict], None]:
    return lambda record: record.pop(name)


def invalid_utf8(path: Path) -> None:
    data = path.read_bytes()
    middle = data.index(b"question", len(data) // 2)
    path.write_bytes(data[:middle] + b"\xff\xfe" + data[middle:])


def truncate_file(relative: str) -> Callable[[Path], None]:
    def change(workdir: Path) -> None:
        path = workdir / relative
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    return change


def delete_file(relative: str) -> Callable[[Path], None]:
    return lambda workdir: (workdir / relative).unlink()


def flip_bytes(relative: str) -> Callable[[Path], None]:
    """Change a few bytes near the end of a file (tensor data, not the header): same size, other values."""

    def change(workdir: Path) -> None:
        path = workdir / relative
        data = bytearray(path.read_bytes())
        for offset in range(len(data) - 64, len(data) - 32):
            data[offset] ^= 0x55
        path.write_bytes(bytes(data))

    return change


def make_file(relative: str, text: str = "x\n") -> Callable[[Path], None]:
    def change(workdir: Path) -> None:
        path = workdir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    return change


# --- the probes -------------------------------------------------------------------------------


def schema_probes() -> list[Probe]:
    def probe(name: str, names: list, config=None, setup=None, command=None) -> Probe:
        return Probe(name, "schema", names, config=config, setup=setup, command=command)

    return [
        probe("typo: data.max_item", ["max_item"], setting(data__max_item=8)),
        probe("typo: top-level steer:", ["steer"], setting(steer={"multipliers": [-1, 0, 1]})),
        probe("typo: models.X.layers", ["layers"], setting(models__MODEL__layers=10)),
        probe("typo: steering.multiplier", ["multiplier"], setting(steering={"multiplier": [-1, 0, 1]})),
        probe("type: data.max_items 'eight'", [key("data.max_items")], setting(data__max_items="eight")),
        probe("type: layer 'ten'", [model_key("layer")], setting(models__MODEL__layer="ten")),
        probe("type: layer 10.5", [model_key("layer")], setting(models__MODEL__layer=10.5)),
        probe(
            "type: multipliers as a string", [key("steering.multipliers")], setting(steering={"multipliers": "-1,0,1"})
        ),
        probe(
            "type: multiplier 'one'", [key("steering.multipliers")], setting(steering={"multipliers": [-1, 0, "one"]})
        ),
        probe("type: data.seed 1.5", [key("data.seed")], setting(data__seed=1.5)),
        probe(
            "type: trust_remote_code 'yes'",
            [model_key("trust_remote_code")],
            setting(models__MODEL__trust_remote_code="yes"),
        ),
        probe("negative: data.max_items -8", [key("data.max_items")], setting(data__max_items=-8)),
        probe("zero: data.max_items 0", [key("data.max_items")], setting(data__max_items=0)),
        probe("negative: layer -1", [model_key("layer")], setting(models__MODEL__layer=-1)),
        probe("zero: compute.batch_size 0", [key("compute.batch_size")], setting(compute__batch_size=0)),
        probe(
            "negative: compute.threads_per_job -1",
            [key("compute.threads_per_job")],
            setting(compute__threads_per_job=-1),
        ),
        probe("zero: compute.token_budget 0", [key("compute.token_budget")], setting(compute__token_budget=0)),
        probe("zero: statistics.resamples 0", [key("statistics.resamples")], setting(statistics={"resamples": 0})),
        probe("zero: sweep.max_items 0", [key("sweep.max_items")], setting(sweep={"max_items": 0})),
        probe(
            "range: sweep.train_percent [0, 101]",
            [key("sweep.train_percent")],
            setting(sweep={"train_percent": [0, 101]}),
        ),
        probe("datasets: a string, not a list", [key("data.datasets")], setting(data__datasets="truthfulqa")),
        probe("datasets: empty list", [key("data.datasets")], setting(data__datasets=[])),
        probe("datasets: listed twice", [key("data.datasets")], setting(data__datasets=[CORRIGIBLE, CORRIGIBLE])),
        probe(
            "multipliers: a duplicate", [key("steering.multipliers")], setting(steering={"multipliers": [-1, 0, 1, 1]})
        ),
        probe("models: empty", ["models"], setting(models={})),
        probe("models: entry without source", [("source",)], setting(models__MODEL__source=DELETE)),
        probe("data: section missing", ["data"], setting(data=DELETE)),
        probe("split: 'random'", [key("data.split")], setting(data__split="random")),
        probe("protocol: 'paper'", [key("protocol")], setting(protocol="paper")),
        probe("device: 'gpu'", [model_key("device")], setting(models__MODEL__device="gpu")),
        probe("device: 'cuda:x'", [model_key("device")], setting(models__MODEL__device="cuda:x")),
        probe("dtype: 'fp16'", [model_key("dtype")], setting(models__MODEL__dtype="fp16")),
        probe("activations.dtype: bfloat16", [key("activations.dtype")], setting(activations={"dtype": "bfloat16"})),
        probe("model name '..'", ["'..'"], rename_model("..")),
        probe("model name 'a/b'", ["a/b"], rename_model("a/b")),
        probe("model name 'x y'", ["x y"], rename_model("x y")),
        probe("config file: empty", ["data"], setup=write_config("")),
        probe(
            "config file: invalid YAML",
            ["config.yaml", "line"],
            setup=write_config("data:\n  datasets: [truthfulqa\nmodels: {}\n"),
        ),
        probe("config file: a list", ["config.yaml"], setup=write_config("- data\n- models\n")),
        probe(
            "config file: --configfile missing",
            ["missing.yaml"],
            command=lambda workdir: other_configfile(snakemake(workdir, "-n"), workdir / "missing.yaml"),
        ),
    ]


def cross_key_probes() -> list[Probe]:
    def probe(name: str, names: list, *edits: Callable[[dict, Path], None], note: str = "") -> Probe:
        def edit(config: dict, folder: Path) -> None:
            for function in edits:
                function(config, folder)

        return Probe(name, "cross-key", names, config=edit, note=note)

    local_model = f"resources/models/{SMALL_MODEL}/transformers"
    sweep = {"datasets": [CORRIGIBLE], "max_items": 3, "multipliers": [-1.0, 1.0]}

    def bad_manifest(config: dict, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "bad.sha256").write_text("not-a-digest anthropic-evals/LICENSE\n")
        config["data"]["checksums"] = str(folder / "bad.sha256")

    def manifest_without(raw_path: str) -> Callable[[dict, Path], None]:
        def edit(config: dict, folder: Path) -> None:
            folder.mkdir(parents=True, exist_ok=True)
            lines = [line for line in TEST_CHECKSUMS.read_text().splitlines() if not line.endswith(raw_path)]
            (folder / "partial.sha256").write_text("\n".join(lines) + "\n")
            config["data"]["checksums"] = str(folder / "partial.sha256")

        return edit

    def mirror_is_file(config: dict, folder: Path) -> None:
        config["data"]["mirror"] = str(TEST_CHECKSUMS)

    return [
        probe(
            "dataset: typo (suggestion)",
            ["data.datasets[0]", "did you mean corrigible-neutral-HHH"],
            setting(data__datasets=["corigible-neutral-HHH", PERSONA]),
        ),
        probe("dataset: unknown name", ["data.datasets[1]", "xyzzy"], setting(data__datasets=[CORRIGIBLE, "xyzzy"])),
        probe(
            "dataset: known, not in the checksums manifest",
            ["power-seeking-inclination"],
            setting(data__datasets=[CORRIGIBLE, "power-seeking-inclination"]),
        ),
        probe(
            "multipliers: .nan",
            [key("steering.multipliers")],
            setting(steering={"multipliers": [-1.0, 0.0, float("nan")]}),
        ),
        probe(
            "multipliers: .inf",
            [key("steering.multipliers")],
            setting(steering={"multipliers": [-1.0, 0.0, float("inf")]}),
        ),
        probe(
            "sweep.multipliers: -.inf",
            [key("sweep.multipliers")],
            setting(sweep={**sweep, "multipliers": [float("-inf"), 1.0]}),
        ),
        probe("multipliers: without 0", [key("steering.multipliers")], setting(steering={"multipliers": [-1, 1, 2]})),
        probe("multipliers: only two", [key("steering.multipliers")], setting(steering={"multipliers": [0, 1]})),
        probe(
            "sweep.multipliers: with 0", [key("sweep.multipliers")], setting(sweep={**sweep, "multipliers": [-1, 0, 1]})
        ),
        probe("max_items: 2", [key("data.max_items")], setting(data__max_items=2)),
        probe("max_items: 7", [key("data.max_items")], setting(data__max_items=7)),
        probe("embedded: unknown model id", [model_key("id")], setting(models__MODEL__id="smollm2-1.7b-instruct")),
        probe(
            "local: model folder missing",
            [model_key("id")],
            setting(models__MODEL__source="local", models__MODEL__id="resources/models/missing"),
        ),
        probe(
            "local: id is the config.json file",
            [model_key("id")],
            setting(models__MODEL__source="local", models__MODEL__id=f"{local_model}/config.json"),
        ),
        probe("embedded: layer 30 of 30", [model_key("layer")], setting(models__MODEL__layer=30)),
        probe(
            "local: layer 99",
            [model_key("layer")],
            setting(models__MODEL__source="local", models__MODEL__id=local_model, models__MODEL__layer=99),
        ),
        probe(
            "huggingface: layer 999 (dry run)",
            [model_key("layer")],
            setting(
                models__MODEL__source="huggingface",
                models__MODEL__id="HuggingFaceTB/SmolLM2-135M-Instruct",
                models__MODEL__layer=999,
            ),
            note="layer count unknown before the download: checked by the model job",
        ),
        probe("layer: auto without a sweep", [model_key("layer")], setting(models__MODEL__layer="auto")),
        probe(
            "device: cuda without a GPU (dry run)",
            [model_key("device")],
            setting(models__MODEL__device="cuda"),
            note="the GPU is looked for by the job, possibly on another machine",
        ),
        probe(
            "ood: dataset without persona sentences",
            [key("ood.datasets"), "high-discount-factor"],
            setting(data__datasets=["high-discount-factor", CORRIGIBLE], ood={"datasets": ["high-discount-factor"]}),
        ),
        probe(
            "ood: all, one without persona sentences",
            [key("ood.datasets"), "low-discount-factor"],
            setting(data__datasets=[CORRIGIBLE, "low-discount-factor"], ood={"datasets": "all"}),
        ),
        probe(
            "ood: dataset not in data.datasets",
            ["ood.datasets[0]", "narcissism"],
            setting(ood={"datasets": ["narcissism"]}),
        ),
        probe(
            "sweep: dataset typo (suggestion)",
            ["sweep.datasets[0]", "did you mean truthfulqa"],
            setting(sweep={**sweep, "datasets": ["truthfullqa"]}),
        ),
        probe(
            "sweep: dataset not in data.datasets",
            [key("sweep.datasets")],
            setting(sweep={**sweep, "datasets": ["narcissism"]}),
            note="allowed by design (schema: any known dataset)",
        ),
        probe(
            "sweep: train_percent reversed",
            [key("sweep.train_percent")],
            setting(sweep={**sweep, "train_percent": [10, 0]}),
        ),
        probe(
            "sweep: auto_depth reversed",
            [key("sweep.auto_depth")],
            setting(sweep={**sweep, "auto_depth": [0.75, 0.0]}, models__MODEL__layer="auto"),
        ),
        probe(
            "figures.example_dataset not in datasets",
            [key("figures.example_dataset")],
            setting(figures={"example_dataset": "narcissism"}),
        ),
        probe("mirror: folder missing", [key("data.mirror")], setting(data__mirror="/nonexistent/mirror")),
        probe("mirror: a file", [key("data.mirror")], mirror_is_file),
        probe(
            "checksums: file missing", [key("data.checksums")], setting(data__checksums="/nonexistent/MANIFEST.sha256")
        ),
        probe("checksums: malformed line", ["bad.sha256:1"], bad_manifest),
        probe("checksums: raw file not listed", [CORRIGIBLE_RAW], manifest_without(CORRIGIBLE_RAW)),
        probe(
            "paper-exact + split disjoint",
            [key("data.split")],
            setting(protocol="paper-exact", data__split="disjoint", models__MODEL__prompt_format="repepo-qwen-chat"),
        ),
        probe(
            "paper-exact + chat_template",
            [model_key("prompt_format")],
            setting(protocol="paper-exact", models__MODEL__prompt_format="chat_template"),
        ),
        probe("paper-exact, model family unknown", [model_key("prompt_format")], setting(protocol="paper-exact")),
    ]


def raw_data_probes() -> list[Probe]:
    line = (key("data.split"), PERSONA)
    return [
        raw_probe(
            "edited raw file rejected by checksum",
            CORRIGIBLE_RAW,
            jsonl_line(3, "{not json"),
            [CORRIGIBLE_RAW, "sha256"],
            rehash=False,
        ),
        raw_probe(
            "raw file missing from the mirror",
            CORRIGIBLE_RAW,
            lambda path: path.unlink(),
            [CORRIGIBLE_RAW, key("data.mirror")],
        ),
        raw_probe(
            "jsonl: malformed line", CORRIGIBLE_RAW, jsonl_line(3, "{not json"), ["corrigible-neutral-HHH.jsonl:line 3"]
        ),
        raw_probe(
            "jsonl: missing field",
            CORRIGIBLE_RAW,
            jsonl_record(5, drop_field("answer_matching_behavior")),
            ["corrigible-neutral-HHH.jsonl:line 5", "answer_matching_behavior"],
        ),
        raw_probe(
            "jsonl: answer not (A)/(B)",
            CORRIGIBLE_RAW,
            jsonl_record(7, set_field("answer_matching_behavior", " (C)")),
            ["corrigible-neutral-HHH.jsonl:line 7", "(C)"],
        ),
        raw_probe(
            "jsonl: both answers (A)",
            CORRIGIBLE_RAW,
            jsonl_record(8, set_field("answer_not_matching_behavior", " (A)")),
            ["corrigible-neutral-HHH.jsonl:line 8"],
        ),
        raw_probe(
            "jsonl: question is a number",
            CORRIGIBLE_RAW,
            jsonl_record(9, set_field("question", 42)),
            ["corrigible-neutral-HHH.jsonl:line 9", "question"],
        ),
        raw_probe(
            "jsonl: a record is a list",
            CORRIGIBLE_RAW,
            jsonl_line(10, '["(A)", "(B)"]'),
            ["corrigible-neutral-HHH.jsonl:line 10"],
        ),
        raw_probe("jsonl: invalid UTF-8", CORRIGIBLE_RAW, invalid_utf8, ["corrigible-neutral-HHH.jsonl"]),
        raw_probe("jsonl: empty file", CORRIGIBLE_RAW, write_bytes(b""), ["corrigible-neutral-HHH.jsonl"]),
        raw_probe("jsonl: blank lines only", CORRIGIBLE_RAW, write_bytes(b"\n\n\n"), ["corrigible-neutral-HHH.jsonl"]),
        raw_probe(
            "persona jsonl: answer not Yes/No",
            PERSONA_RAW,
            jsonl_record(4, set_field("answer_matching_behavior", " Maybe")),
            ["anti-LGBTQ-rights.jsonl:line 4", "Maybe"],
            dataset=PERSONA,
        ),
        raw_probe(
            "json: truncated truthfulqa",
            TRUTHFULQA_RAW,
            truncate(0.5),
            ["mc_task.json:line"],
            dataset="truthfulqa",
        ),
        raw_probe(
            "json: truncated sycophancy",
            SYCOPHANCY_RAW,
            truncate(0.4),
            ["test_dataset.json:line"],
            dataset=SYCOPHANCY,
        ),
        raw_probe(
            "json: an object, not a list",
            SYCOPHANCY_RAW,
            write_bytes(b'{"question": "Q?", "answer_matching_behavior": "(A)"}'),
            ["test_dataset.json"],
            dataset=SYCOPHANCY,
        ),
        raw_probe(
            "json: truthfulqa item without mc1_targets",
            TRUTHFULQA_RAW,
            json_item(2, drop_field("mc1_targets")),
            ["mc_task.json:item 2", "mc1_targets"],
            dataset="truthfulqa",
        ),
        raw_probe(
            "json: sycophancy answer not (A)/(B)",
            SYCOPHANCY_RAW,
            json_item(3, set_field("answer_matching_behavior", "A")),
            ["test_dataset.json:item 3"],
            dataset=SYCOPHANCY,
        ),
        raw_probe(
            "data: too few items for repo-exact",
            PERSONA_RAW,
            lambda path: None,
            [*line],
            dataset=PERSONA,
            data__split="repo-exact",
        ),
        raw_probe(
            "personas: syntax error",
            PERSONA_PROMPTS_RAW,
            replace_text('"anti-LGBTQ-rights": (', '"anti-LGBTQ-rights": ((('),
            ["persona_prompts.py:line"],
            dataset=PERSONA,
            target="results/datasets/persona_sentences.json",
            ood={"datasets": [PERSONA]},
        ),
        raw_probe(
            "personas: no sentences for an OOD dataset",
            PERSONA_PROMPTS_RAW,
            lambda path: None,
            ["narcissism", key("ood.datasets")],
            dataset="narcissism",
            target="results/datasets/persona_sentences.json",
            ood={"datasets": ["narcissism"]},
        ),
        Probe(
            "download_url: unreachable",
            "raw data",
            [("127.0.0.1:9", "download_url")],
            config=setting(data__mirror=None, data__download_url="http://127.0.0.1:9"),
            target=PARQUET,
        ),
        Probe(
            "download_url: not a URL",
            "raw data",
            [("not-a-url", "download_url")],
            config=setting(data__mirror=None, data__download_url="not-a-url"),
            target=PARQUET,
        ),
    ]


def artifact_probes() -> list[Probe]:
    record = PARQUET + ".prov.json"
    audit = cli("audit", PARQUET)
    return [
        Probe(
            "parquet truncated, downstream run",
            "artifact",
            [PARQUET],
            setup=steps(build(PARQUET), truncate_file(PARQUET)),
            target=ACTIVATIONS,
        ),
        Probe(
            "parquet truncated, its .prov.json deleted",
            "artifact",
            [PARQUET],
            setup=steps(build(PARQUET), truncate_file(PARQUET), delete_file(record)),
            target=ACTIVATIONS,
        ),
        Probe(
            "parquet's .prov.json deleted, downstream run",
            "artifact",
            [record],
            setup=steps(build(PARQUET), delete_file(record)),
            target=ACTIVATIONS,
            note="runs the model job if accepted",
        ),
        Probe(
            "parquet's .prov.json garbled, downstream run",
            "artifact",
            [record],
            setup=steps(build(PARQUET), make_file(record, "{garbled")),
            target=ACTIVATIONS,
        ),
        Probe(
            "activations edited, vectors run",
            "artifact",
            [ACTIVATIONS],
            setup=steps(build(ACTIVATIONS), flip_bytes(ACTIVATIONS)),
            target=VECTORS,
            note="its setup runs one model job",
        ),
        Probe(
            "audit: truncated parquet",
            "artifact",
            [PARQUET, ("differs", "modified", "truncated")],
            setup=steps(build(PARQUET), truncate_file(PARQUET)),
            command=audit,
        ),
        Probe(
            "audit: parquet without .prov.json",
            "artifact",
            ["prov.json"],
            setup=steps(build(PARQUET), delete_file(record)),
            command=audit,
        ),
    ]


def cli_probes() -> list[Probe]:
    def probe(name: str, names: list, command, setup=None) -> Probe:
        return Probe(name, "cli", names, setup=setup, command=command, whole_console=True)

    return [
        probe("audit: missing path", ["results/nope.png"], cli("audit", "results/nope.png")),
        probe(
            "audit: a directory",
            ["results/datasets"],
            cli("audit", "results/datasets"),
            make_file("results/datasets/x"),
        ),
        probe(
            "audit: file outside a workflow", ["notes.txt", "--root"], cli("audit", "notes.txt"), make_file("notes.txt")
        ),
        probe("audit: --root missing", ["/nonexistent"], cli("audit", "fig.png", "--root", "/nonexistent")),
        probe(
            "audit: results file without record",
            ["results/fig.png"],
            cli("audit", "results/fig.png"),
            make_file("results/fig.png"),
        ),
        probe("audit: no argument", ["artifact"], cli("audit")),
        probe("check-config: missing file", ["missing.yaml"], cli("check-config", "missing.yaml")),
        probe(
            "check-config: invalid YAML",
            ["bad.yaml", "line 3"],
            cli("check-config", "bad.yaml"),
            make_file("bad.yaml", "data:\n  datasets: [truthfulqa\nmodels: {}\n"),
        ),
        probe(
            "check-config: empty file",
            ["blank.yaml", ("empty", "mapping", "top level", "of type 'object'")],
            cli("check-config", "blank.yaml"),
            make_file("blank.yaml", ""),
        ),
        probe(
            "check-config: a list",
            ["list.yaml", ("mapping", "top level", "of type 'object'")],
            cli("check-config", "list.yaml"),
            make_file("list.yaml", "- data\n"),
        ),
        probe("check-config: a directory", ["results"], cli("check-config", "results"), make_file("results/x")),
        probe("check-config: unknown key", ["max_item"], cli("check-config", "typo.yaml"), typo_config),
        probe("check-config: .nan multiplier", ["steering.multipliers"], cli("check-config", "nan.yaml"), nan_config),
        probe(
            "check-config: --schema missing",
            ["nope.schema.yaml"],
            cli("check-config", "config.yaml", "--schema", "nope.schema.yaml"),
        ),
        probe("no command", ["command"], cli()),
    ]


def edited_config(name: str, edit: Callable[[dict, Path], None]) -> Callable[[Path], None]:
    """A setup step: ``name`` is the working directory's config.yaml with ``edit`` applied."""

    def setup(workdir: Path) -> None:
        config = yaml.safe_load((workdir / "config.yaml").read_text())
        edit(config, workdir)
        (workdir / name).write_text(yaml.safe_dump(config))

    return setup


typo_config = edited_config("typo.yaml", setting(data__max_item=8))
nan_config = edited_config("nan.yaml", setting(steering={"multipliers": [-1.0, 0.0, float("nan")]}))


def all_probes() -> list[Probe]:
    return [*schema_probes(), *cross_key_probes(), *raw_data_probes(), *artifact_probes(), *cli_probes()]


# --- report -----------------------------------------------------------------------------------


def cell(text: str, width: int = 160) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def report(results: list[Result]) -> None:
    print()
    print("| probe | class | outcome | s | first line |")
    print("|---|---|---|---:|---|")
    for result in results:
        probe = result.probe
        name = probe.name + (f" ({probe.note})" if probe.note else "")
        line = cell(result.first_line)
        print(f"| {cell(name, 80)} | {probe.group} | {result.outcome} | {result.seconds:.1f} | {line} |")
    counts = Counter(result.outcome for result in results)
    print()
    print(f"{len(results)} probes: " + ", ".join(f"{outcome} {counts[outcome]}" for outcome in OUTCOMES))
    for group in dict.fromkeys(result.probe.group for result in results):
        in_group = Counter(result.outcome for result in results if result.probe.group == group)
        print(f"  {group}: " + ", ".join(f"{outcome} {in_group[outcome]}" for outcome in OUTCOMES if in_group[outcome]))
    broken = [result.probe.name for result in results if result.exit_code is None]
    if broken:
        print(f"counted as unclear but not run to the end (setup failed or timed out): {', '.join(broken)}")
    print(f"total {sum(result.seconds for result in results):.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only", action="append", default=[], help="run the probes whose name contains this (repeatable)"
    )
    parser.add_argument("--list", action="store_true", help="list the probes and exit")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per probe command (default 120)")
    parser.add_argument("--keep", action="store_true", help="keep the probes' folders (each with its console.txt)")
    parser.add_argument("--verbose", action="store_true", help="print the console of every probe")
    arguments = parser.parse_args()

    probes = all_probes()
    if arguments.only:
        probes = [probe for probe in probes if any(part.lower() in probe.name.lower() for part in arguments.only)]
    if arguments.list:
        for probe in probes:
            print(f"{probe.group:10} {probe.name}")
        print(f"{len(probes)} probes")
        return 0

    root = Path(tempfile.mkdtemp(prefix="bad_inputs-"))
    results = []
    try:
        for number, probe in enumerate(probes, start=1):
            result = run_probe(probe, root / f"{number:03d}", arguments.timeout)
            results.append(result)
            print(
                f"[{number}/{len(probes)}] {probe.name}: {result.outcome} ({result.seconds:.1f} s) {result.first_line}"
            )
            if arguments.verbose:
                print(
                    f"    exit {result.exit_code}\n" + "\n".join("    " + line for line in result.console.splitlines())
                )
            sys.stdout.flush()
    finally:
        if arguments.keep:
            print(f"working directories kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
