"""Command line of the package: audit an artifact, check a config before a run, list the datasets,
compare two runs."""

from __future__ import annotations

import argparse
import math
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from steering_reliability.run.provenance import AuditUsageError, audit, describe, locate, verify_folder

PROG = "steering-reliability"
DESCRIPTION = """\
Companion commands of the steering-reliability workflow. The study itself runs with Snakemake
(`snakemake --cores all` in the repository); these commands help before and after a run.
"""
EXAMPLES = """\
examples:
  steering-reliability check-config config/paper.yaml
      validate a config against the workflow's schema and its cross-key rules, before any compute
  steering-reliability audit results/qwen2.5-coder-0.5b-instruct/figures/fig2_anti_steerable_fraction.png
      explain how a figure was made and verify the checksums of every file behind it
  steering-reliability datasets
      list the datasets the workflow knows, with the raw file each is built from
  steering-reliability compare-runs old/results results --atol 1e-6
      compare two runs file by file: which tables, tensors and figures are identical, equal within
      the tolerance, or different
  steering-reliability gpu-check --config config/paper.yaml --raw resources/raw
      before a study on GPUs: checks the engine on this GPU against the CPU, measures the GPU's
      throughput on the config's models and predicts the study's time
  steering-reliability size config/paper.yaml --raw ../shared/datasets --gpu-gb 40 48 80
      GPU memory per job (measured by running the engine on the models' real shapes on PyTorch's
      meta device), work, disk and GPU-hours of a study, and which token budget fits each GPU
"""
SCHEMA = Path("workflow") / "schemas" / "config.schema.yaml"


def package_version() -> str:
    try:
        return version("steering-reliability")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def run_audit(arguments) -> int:
    folder = Path(arguments.root, arguments.artifact) if arguments.root else Path(arguments.artifact)
    if folder.is_dir():
        checked, problems = verify_folder(folder)
        print("\n".join(problems + [f"{checked} artifacts checked against their records: {len(problems)} problems"]))
        return 0 if checked and not problems else 1
    try:
        root, artifact = locate(arguments.artifact, arguments.root)
    except AuditUsageError as error:
        print(f"audit: {error}", file=sys.stderr)
        return 2
    for line in describe(artifact, root):
        print(line)
    finding = audit(artifact, root)
    print("chain:")
    print("\n".join(finding.lines(1)))
    print("verdict: " + ("all checksums match" if finding.ok else "PROBLEMS FOUND"))
    return 0 if finding.ok else 1


def find_schema(explicit: str | None) -> Path | None:
    """The workflow's config schema: given, or found in the working directory or the source tree."""
    candidates = [Path(explicit)] if explicit else [SCHEMA, Path(__file__).resolve().parents[2] / SCHEMA]
    return next((path for path in candidates if path.is_file()), None)


def schema_problem(error: Exception) -> str:
    """The key and the message of a schema violation (jsonschema's ValidationError, as snakemake wraps it)."""
    from jsonschema import ValidationError

    found = error.__context__ if isinstance(error.__context__, ValidationError) else None
    if found is None:
        return str(error).splitlines()[0]
    key = ".".join(str(part) for part in found.absolute_path) or "top level"
    return f"{key}: {found.message}"


def yaml_problem(error: Exception) -> str:
    """Where and what a YAML syntax error is: "line 3, column 7: expected ',' or ']', but got ':' (...)"."""
    mark = getattr(error, "problem_mark", None)
    if mark is None:
        return " ".join(str(error).split())
    context = getattr(error, "context", None)
    context_mark = getattr(error, "context_mark", None)
    where = f" ({context} at line {context_mark.line + 1}, column {context_mark.column + 1})" if context_mark else ""
    return f"line {mark.line + 1}, column {mark.column + 1}: {error.problem}{where if context else ''}"


def load_config(path: Path, command: str, schema_path: str | None = None) -> tuple[dict | None, int]:
    """A config file validated against the schema (defaults filled in) and the cross-key checks: (config, 0), or
    (None, exit code) after one line on stderr naming the file and the key (2: unreadable, 1: invalid)."""
    import yaml
    from snakemake.utils import validate

    from steering_reliability.run.config import ConfigError, check_config

    schema = find_schema(schema_path)
    if schema is None:
        where = f"--schema {schema_path}: no such file" if schema_path else f"no {SCHEMA} here or in the source tree"
        print(f"{command}: {where}; pass --schema", file=sys.stderr)
        return None, 2
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        print(f"{command}: {path}: {yaml_problem(error)}", file=sys.stderr)
        return None, 2
    if not isinstance(config, dict):
        found = "an empty file" if config is None else f"a {type(config).__name__}"
        print(f"{command}: {path}: a config is a mapping of keys (data, models, ...), this is {found}", file=sys.stderr)
        return None, 1
    try:
        validate(config, str(schema), set_default=True)
        check_config(config)
    except ConfigError as error:
        print(f"{command}: {path}: {error}", file=sys.stderr)
        return None, 1
    except Exception as error:  # snakemake's WorkflowError around the schema validator's error
        print(f"{command}: {path}: {schema_problem(error)}", file=sys.stderr)
        return None, 1
    return config, 0


def run_check_config(arguments) -> int:
    path = Path(arguments.config)
    config, code = load_config(path, "check-config", arguments.schema)
    if config is None:
        return code
    print(f"{path}: valid (protocol {config['protocol']}, split {config['data']['split']})")
    for name, entry in config["models"].items():
        print(
            f"  model {name}: {entry['source']} {entry['id']} @ {entry['revision'] or 'main'}, "
            f"layer {entry['layer']}, prompts {entry['prompt_format']}, device {entry['device']}"
        )
    print(f"  {len(config['data']['datasets'])} datasets, multipliers {config['steering']['multipliers']}")
    for name, entry in config["data"]["user_datasets"].items():
        source = entry.get("file") or f"hub {entry['hub']['id']} @ {entry['hub']['revision'] or 'main'}"
        study = "with OOD persona sentences" if entry["persona"] else "in-distribution only"
        print(f"  your dataset {name}: {entry['form']} rows from {source}, all rows readable, {study}")
    return 0


def run_datasets(arguments) -> int:
    from steering_reliability.data.items import dataset_kind_and_path, known_datasets

    for name in known_datasets():
        kind, raw = dataset_kind_and_path(name)
        print(f"{name}\t{kind}\t{raw}")
    return 0


def run_compare(arguments) -> int:
    from steering_reliability.run.run_diff import compare_runs, summary_lines

    try:
        diffs = compare_runs(arguments.a, arguments.b, arguments.atol)
    except FileNotFoundError as error:
        print(f"compare-runs: {error}", file=sys.stderr)
        return 2
    if not diffs:
        print(
            f"compare-runs: nothing to compare: neither {arguments.a} nor {arguments.b} holds a file", file=sys.stderr
        )
        return 2
    print("\n".join(summary_lines(diffs, arguments.atol)))
    return 0 if all(diff.status in ("identical", "within") for diff in diffs) else 1


def tolerance(text: str) -> float:
    """An --atol value: a finite number, at least 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, not {text!r}")
    return value


def run_size(arguments) -> int:
    from steering_reliability.run import sizing

    config, code = load_config(Path(arguments.config), "size")
    if config is None:
        return code
    raw = sizing.raw_folder(config, arguments.raw)
    try:
        tables = sizing.study_tables(config, raw)
        personas = sizing.persona_table(config, raw)
        results = [
            sizing.size_model(
                config,
                sizing.plan_model(
                    config, name, tables, personas, Path(arguments.models), Path(arguments.results), arguments.tokenizer
                ),
                arguments.gpu_gb,
                arguments.budgets,
            )
            for name in config["models"]
        ]
    except FileNotFoundError as error:
        print(f"size: {error}", file=sys.stderr)
        return 2
    print("\n".join(sizing.report_lines(results, arguments.gpu_gb, arguments.tflops)))
    return 0


def run_gpu_check(arguments) -> int:
    import torch

    from steering_reliability.model import gpu_check
    from steering_reliability.model.devices import DeviceError, resolve_device
    from steering_reliability.model.models import DTYPES
    from steering_reliability.run import sizing

    config, code = load_config(Path(arguments.config), "gpu-check")
    if config is None:
        return code
    try:
        device = resolve_device(arguments.device, what="this machine")
    except DeviceError as error:
        print(f"gpu-check: {error}", file=sys.stderr)
        return 2
    print("\n".join(gpu_check.device_lines(device)))
    tests = Path(arguments.tests) if arguments.tests else find_tests()
    results = gpu_check.run_checks(device, tests) if tests and tests.is_file() else []
    print("\nDevice checks" + (f" ({tests})" if results else ": tests/test_gpu.py not found (run from a clone)") + ":")
    print("\n".join(gpu_check.check_lines(results)))
    print("\nThroughput:")
    size = 4096 if device.type == "cuda" else 1024
    for dtype in (torch.bfloat16, torch.float32):
        rate = gpu_check.matmul_tflops(device, dtype, size, arguments.seconds)
        print(f"- dense matmul {size} x {size}, {dtype}: {rate:.2f} TFLOP/s")
    raw = sizing.raw_folder(config, arguments.raw)
    try:
        tables, personas = sizing.study_tables(config, raw), sizing.persona_table(config, raw)
    except FileNotFoundError as error:
        tables, personas = None, {}
        print(f"- no study time without the raw files ({error})")
    plans, rates = [], {}
    for name, entry in config["models"].items():
        transformers_config = sizing.model_config(name, entry, Path(arguments.models))
        plan = None
        if tables is not None:
            try:
                plan = sizing.plan_model(
                    config, name, tables, personas, Path(arguments.models), Path(arguments.results), arguments.tokenizer
                )
                plans.append(plan)
            except FileNotFoundError as error:
                print(f"- {name}: no study time ({error})")
        dtype = DTYPES[entry["dtype"]]
        meta = sizing.meta_model(transformers_config, dtype)
        weights = sizing.model_shape(meta).parameters * sizing.BYTES[entry["dtype"]]
        if weights > gpu_check.MAX_WEIGHT_SHARE * gpu_check.device_memory(device):
            print(f"- {name}: weights {weights / 1e9:.1f} GB do not leave room on this device: not measured")
            continue
        calls = plan.calls["evaluate_steering"] if plan else []
        tokens = sum(sum(call.lengths) for call in calls) // max(1, sum(len(call.lengths) for call in calls)) or 200
        layer = plan.layer if plan else sizing.steering_layer(name, entry, Path(arguments.results), 1, config)[0]
        attention = sizing.attention_implementation(transformers_config, entry.get("attention", "auto"))
        model = gpu_check.random_model(transformers_config, dtype, attention, device)
        budget, batch = (sizing.model_setting(config, entry, key) for key in ("token_budget", "batch_size"))
        rates[name], ran = gpu_check.engine_tflops(model, layer, budget, batch, max(tokens, 48), arguments.seconds)
        del model
        print(
            f"- {name} (its shapes, random weights, {entry['dtype']}): the engine ran {ran} items of {tokens} "
            f"prompt tokens x 43 settings at {rates[name]:.2f} TFLOP/s of minimum FLOPs"
        )
    if plans and rates:
        print("\nPredicted study time on this device (the config's minimum FLOPs at the rates above; add one model")
        print("load per model job: the weights and the libraries, about a minute per job on a GPU node):\n")
        print("\n".join(sizing.work_lines(plans, rates)[2:]))
    failed = [result for result in results if result.outcome == "failed"]
    return 1 if failed or not results else 0


def find_tests() -> Path | None:
    """tests/test_gpu.py of the working directory or the source tree (a clone of the repository)."""
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (root / "tests" / "test_gpu.py").is_file():
            return root / "tests" / "test_gpu.py"
    return None


def study_arguments(command: argparse.ArgumentParser) -> None:
    """Where the commands that size a study find its raw files, tokenizers, prepared models and chosen layers."""
    command.add_argument(
        "--raw", default=None, help="the raw files (data.mirror layout; default: data.mirror, else resources/raw)"
    )
    command.add_argument("--tokenizer", default=None, help="a tokenizer for models that are not prepared")
    command.add_argument("--models", default="resources/models", help="prepared models (model.json)")
    command.add_argument("--results", default="results", help="a run's results (for layer: auto)")


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    main_parser.add_argument("--version", action="version", version=f"{PROG} {package_version()}")
    commands = main_parser.add_subparsers(dest="command", required=True, metavar="command")
    audit_parser = commands.add_parser(
        "audit",
        help="explain an artifact and verify the checksums of the chain behind it",
        description="Print the rule, inputs, parameters and code version behind an artifact, then verify the "
        "sha256 of every file in its chain against the provenance records. Given a folder (results), check every "
        "artifact in it against its own record: a table or figure truncated or edited after the run. Exit 0: all "
        "match; 1: problems found (or no artifact in the folder); 2: the path is not an artifact.",
    )
    audit_parser.add_argument(
        "artifact",
        help="path of a workflow output (a figure, table or tensor file), or a folder (e.g. results): every artifact "
        "in it is checked against its record",
    )
    audit_parser.add_argument(
        "--root", default=None, help="the workflow's working directory (default: found from the artifact's path)"
    )
    audit_parser.set_defaults(run=run_audit)
    check_parser = commands.add_parser(
        "check-config",
        help="validate a config file before a run",
        description="Validate a config against the workflow schema (filling in its defaults) and the cross-key "
        "rules the workflow checks at start-up; print the resolved protocol and models. Exit 1 names the key.",
    )
    check_parser.add_argument("config", help="a config file, e.g. config/paper.yaml")
    check_parser.add_argument("--schema", default=None, help=f"the schema (default: {SCHEMA})")
    check_parser.set_defaults(run=run_check_config)
    datasets_parser = commands.add_parser(
        "datasets",
        help="list the datasets the workflow can build",
        description="One line per dataset: name, kind and the raw file (mirror layout) it is built from.",
    )
    datasets_parser.set_defaults(run=run_datasets)
    compare_parser = commands.add_parser(
        "compare-runs",
        help="compare the results of two runs file by file",
        description="Compare every artifact under two results/ folders (provenance records skipped): tables "
        "column by column and tensors and JSON values to --atol, metadata, text and figures exactly. Prints a "
        "count per outcome and every file that is not byte-identical. Exit 0: every file is identical or "
        "within --atol; 1: some file differs or exists in one run only; 2: a folder is missing.",
    )
    compare_parser.add_argument("a", help="results/ folder of run A (e.g. before a change)")
    compare_parser.add_argument("b", help="results/ folder of run B")
    compare_parser.add_argument("--atol", type=tolerance, default=1e-6, help="absolute tolerance (default: 1e-6)")
    compare_parser.set_defaults(run=run_compare)
    size_parser = commands.add_parser(
        "size",
        help="GPU memory per job, work, disk and hours of a study, before it runs",
        description="Size a study from its config and raw files: per model, the peak GPU memory of each job type "
        "(the engine's real code run on the model's real shapes on the meta device, at the configured token budget "
        "and, while it does not fit the smallest --gpu-gb, its halvings), whether it fits each --gpu-gb and which "
        "token budget does, the minimum FLOPs, GPU-hours at --tflops, and the disk of caches, outputs and weights. "
        "Paper models need no download (their configs ship with the package); their tokenizer is the prepared one, "
        "or --tokenizer.",
    )
    size_parser.add_argument("config", help="a config file, e.g. config/paper.yaml")
    study_arguments(size_parser)
    size_parser.add_argument("--gpu-gb", type=float, nargs="+", default=[40, 48, 80], help="GPU sizes in GB")
    size_parser.add_argument(
        "--budgets",
        type=int,
        nargs="+",
        default=None,
        help="token budgets to measure (default: the configured one, halved while the smallest GPU is too small)",
    )
    size_parser.add_argument("--tflops", type=float, default=100.0, help="assumed sustained TFLOP/s per GPU")
    size_parser.set_defaults(run=run_size)
    gpu_parser = commands.add_parser(
        "gpu-check",
        help="check the GPU before a study: device tests, throughput, predicted time",
        description="Run the device checks (tests/test_gpu.py: the engine on the device against the CPU in float32 "
        "and bfloat16, every paper architecture and job type, memory against the meta-device prediction, an "
        "out-of-memory split, a workflow job), measure the device's matmul and engine throughput on the config's "
        "models (their shapes, random weights), and predict the study's time from its FLOPs. Exit 0: every check "
        "passed; 1: a check failed or none ran; 2: the device is not visible.",
    )
    gpu_parser.add_argument("--device", default="cuda", help="the device to check (default: cuda)")
    gpu_parser.add_argument("--config", default="config/paper.yaml", help="the study to time")
    study_arguments(gpu_parser)
    gpu_parser.add_argument("--tests", default=None, help="tests/test_gpu.py (default: found in the clone)")
    gpu_parser.add_argument("--seconds", type=float, default=5.0, help="seconds per throughput measurement")
    gpu_parser.set_defaults(run=run_gpu_check)
    return main_parser


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    return arguments.run(arguments)


if __name__ == "__main__":
    sys.exit(main())
