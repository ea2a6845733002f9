"""Provenance of every artifact, and the audit that checks the chain behind one.

Each workflow job writes, beside every output ``X``, a record ``X.prov.json``: the rule
and wildcards that made it, the config and its hash, the sha256 of every input and of
``X`` itself, the model (id and weight-file sha256) where one was used, the versions
of the packages that computed it, and the git commit of the workflow. ``audit`` reads
those records back and re-hashes the files, following inputs to their own records.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from steering_reliability.data.sources import sha256_of
from steering_reliability.run.artifacts import config_hash, write_json
from steering_reliability.run.code_version import PACKAGE_DIR

SUFFIX = ".prov.json"
PACKAGES = (
    "steering-reliability",
    "torch",
    "transformers",
    "safetensors",
    "pandas",
    "pyarrow",
    "statsmodels",
    "seaborn",
    "snakemake",
)


def record_path(artifact: str | Path) -> Path:
    return Path(f"{artifact}{SUFFIX}")


def package_versions() -> dict[str, str]:
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            continue
    return versions


def git_commit(directory: str | Path) -> str:
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    commit = completed.stdout.strip()
    if completed.returncode != 0 or not commit:
        return "unknown"
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=directory, capture_output=True, text=True
    ).stdout.strip()
    return f"{commit}{'-dirty' if dirty else ''}"


def _model_of(inputs: list[str]) -> dict | None:
    """The model behind a job: from its model.json input, or inherited from its inputs' records."""
    for path in inputs:
        if Path(path).name == "model.json":
            entry = json.loads(Path(path).read_text())
            return {
                key: entry.get(key) for key in ("name", "source", "id", "revision", "gguf_sha256", "weights_sha256")
            }
    for path in inputs:
        record_file = record_path(path)
        if record_file.is_file():
            model = json.loads(record_file.read_text()).get("model")
            if model:
                return model
    return None


class ChangedInputError(RuntimeError):
    """An input whose bytes differ from what the rule that made it recorded: truncated or edited since."""


def verify_inputs(snakemake) -> dict[str, str]:
    """sha256 of every input file, each checked against its own provenance record (a file the workflow
    makes must have one; other inputs, such as a local model's files, are hashed only).

    Returns the hashes (the job's own record reuses them). Raises ``ChangedInputError``
    naming the file and the way to re-make it.
    """
    hashes = {}
    for path in (str(path) for path in snakemake.input):
        if not Path(path).is_file():
            continue
        hashes[path] = sha256_of(path)
        record = record_path(path)
        if not record.is_file():
            if made_by_workflow(path):
                raise ChangedInputError(
                    f"{path}: its provenance record {record} is missing, so it cannot be checked. "
                    "Delete it and run snakemake again to re-make it"
                )
            continue
        try:
            expected = json.loads(record.read_text())
            recorded, rule = expected["sha256"], expected["rule"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise ChangedInputError(f"{record}: unreadable provenance record; delete {path} and re-run") from None
        if hashes[path] != recorded:
            raise ChangedInputError(
                f"{path}: its bytes differ from what rule {rule} wrote (sha256 in {record}): it was truncated or "
                f"edited since. Delete it and run snakemake again to re-make it"
            )
    return hashes


def _inputs_of_outputs(snakemake) -> dict[str, list[str]]:
    """Each output's inputs: all of the job's, unless the rule's ``params.output_inputs`` lists, by
    output name, the names of the inputs that output is made from (a job with several outputs
    that are made from different inputs, such as the per-model figures)."""
    every_input = [str(path) for path in snakemake.input]
    narrowed = getattr(snakemake.params, "output_inputs", None) or {}
    name_of = {str(path): name for name, path in snakemake.output.items()}
    inputs = {}
    for output in map(str, snakemake.output):
        keys = narrowed.get(name_of.get(output))
        inputs[output] = [str(snakemake.input[key]) for key in keys] if keys is not None else every_input
    return inputs


def write_records(snakemake, input_hashes: dict[str, str] | None = None) -> None:
    """Write the provenance record of every output of the job ``snakemake`` describes."""
    hashes = dict(input_hashes or {})
    common = {
        "rule": snakemake.rule,
        "wildcards": dict(snakemake.wildcards.items()),
        "config_hash": config_hash(snakemake.config, dict(snakemake.wildcards.items()).get("model")),
        "config": snakemake.config,
        "packages": package_versions(),
        # where this job imported the package from: the workflow's own src/ (through PYTHONPATH)
        "package_source": str(PACKAGE_DIR),
        "workflow_commit": git_commit(Path(snakemake.scriptdir) if hasattr(snakemake, "scriptdir") else Path.cwd()),
    }
    for output, inputs in _inputs_of_outputs(snakemake).items():
        if not Path(output).is_file():
            continue
        present = [path for path in inputs if Path(path).is_file()]
        for path in present:
            if path not in hashes:
                hashes[path] = sha256_of(path)
        own = {
            "inputs": {path: hashes[path] for path in present},
            "model": _model_of(inputs),
            "artifact": output,
            "sha256": sha256_of(output),
        }
        write_json({**common, **own}, record_path(output))


@dataclass
class AuditFinding:
    path: str
    rule: str | None
    problems: list[str] = field(default_factory=list)
    inputs: list[AuditFinding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and all(finding.ok for finding in self.inputs)

    def lines(self, depth: int = 0) -> list[str]:
        status = "ok" if not self.problems else "; ".join(self.problems)
        text = [f"{'  ' * depth}{self.path}  [{self.rule or 'source'}]  {status}"]
        for finding in self.inputs:
            text += finding.lines(depth + 1)
        return text


def made_by_workflow(name: str) -> bool:
    """Files a workflow job writes (with a record beside them), by their path in the working directory."""
    parts = Path(name).parts
    return (
        parts[:1] == ("results",)
        or parts[:2] == ("resources", "raw")
        or (parts[:2] == ("resources", "models") and parts[-1] == "model.json")
    )


class AuditUsageError(ValueError):
    """The artifact to audit is missing, a directory, or outside a workflow's working directory."""


def locate(artifact: str | Path, root: str | Path | None = None) -> tuple[Path, str]:
    """(the workflow's working directory, the artifact's path in it) for a path given on the command line.

    Without ``root``, the working directory is the nearest parent of the artifact that holds
    the ``results`` folder the artifact is in (or the ``resources`` folder).
    """
    given = Path(artifact)
    if root is not None:
        full = given if given.is_absolute() else Path(root) / given
    else:
        full = given.resolve()
    if not full.exists():
        raise AuditUsageError(f"{artifact}: no such file" + ("" if root is None else f" (under --root {root})"))
    if full.is_dir():
        raise AuditUsageError(f"{artifact}: a directory; audit one file in it, e.g. a figure or a table")
    if root is not None:
        if not full.is_absolute():
            return Path(root), str(given)
        try:
            return Path(root), str(full.resolve().relative_to(Path(root).resolve()))
        except ValueError:
            raise AuditUsageError(f"{artifact}: not inside --root {root}") from None
    for parent in full.parents:
        if (parent / "results").is_dir() and full.relative_to(parent).parts[0] in ("results", "resources"):
            return parent, full.relative_to(parent).as_posix()
    raise AuditUsageError(
        f"{artifact}: not inside a workflow's results/ or resources/ folder; "
        "pass --root <the workflow's working directory>"
    )


def audit(artifact: str | Path, root: str | Path = ".") -> AuditFinding:
    """Check ``artifact`` against its record, and each input against the recorded sha256, recursively.

    Every file is hashed once, however many artifacts of the chain used it.
    """
    hashes: dict[str, str] = {}

    def sha(path: Path) -> str:
        if str(path) not in hashes:
            hashes[str(path)] = sha256_of(path)
        return hashes[str(path)]

    seen: dict[str, AuditFinding] = {}

    def visit(name: str) -> AuditFinding:
        if name in seen:
            return seen[name]
        path = Path(root) / name
        finding = seen[name] = AuditFinding(name, None)
        if not path.is_file():
            finding.problems.append("missing")
            return finding
        record_file = record_path(path)
        if not record_file.is_file():
            if made_by_workflow(name):
                finding.problems.append(f"no provenance record ({record_file.name} is missing): cannot be verified")
            return finding  # a source outside the workflow's outputs: checked against its consumers' records
        try:
            record = json.loads(record_file.read_text())
            finding.rule, recorded, inputs = record["rule"], record["sha256"], record["inputs"]
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            finding.problems.append(f"unreadable provenance record {record_file.name} ({type(error).__name__})")
            return finding
        if sha(path) != recorded:
            finding.problems.append(f"sha256 differs from its record ({recorded[:12]}...): modified after it was made")
        for input_name, expected in inputs.items():
            child = visit(input_name)
            input_path = Path(root) / input_name
            mismatch = f"sha256 differs from what {name} was made from"
            if input_path.is_file() and sha(input_path) != expected and mismatch not in child.problems:
                child.problems.append(mismatch)
            finding.inputs.append(child)
        return finding

    return visit(str(artifact))


def verify_folder(folder: str | Path) -> tuple[int, list[str]]:
    """Every artifact under ``folder`` checked against its provenance record: (how many were checked, one line per
    artifact that is missing, has no or an unreadable record, or whose bytes differ from the record)."""
    checked, problems = 0, []
    for path in sorted(Path(folder).rglob("*")):
        unrecorded = path.is_file() and not path.name.endswith((SUFFIX, ".partial")) and not record_path(path).exists()
        if unrecorded:
            problems.append(f"{path}: no provenance record ({path.name}{SUFFIX} is missing): cannot be verified")
    for record_file in sorted(Path(folder).rglob(f"*{SUFFIX}")):
        artifact = Path(str(record_file)[: -len(SUFFIX)])
        checked += 1
        try:
            recorded = json.loads(record_file.read_text())["sha256"]
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
            problems.append(f"{artifact}: unreadable provenance record {record_file.name}")
            continue
        if not artifact.is_file():
            problems.append(f"{artifact}: missing (its record is there)")
        elif sha256_of(artifact) != recorded:
            problems.append(f"{artifact}: sha256 differs from its record: truncated or edited after it was made")
    return checked, problems


def describe(artifact: str | Path, root: str | Path = ".") -> list[str]:
    record_file = record_path(Path(root) / artifact)
    if not record_file.is_file():
        return [f"{artifact}: no provenance record (a source file, or not made by the workflow)"]
    try:
        record = json.loads(record_file.read_text())
        lines = [
            f"artifact: {artifact}",
            f"rule: {record['rule']}  wildcards: {record['wildcards']}",
            f"config hash: {record['config_hash']}",
            f"workflow commit: {record['workflow_commit']}",
            f"packages: {', '.join(f'{k} {v}' for k, v in record['packages'].items())}",
        ]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as error:
        return [f"{artifact}: unreadable provenance record {record_file.name} ({type(error).__name__})"]
    if record.get("model"):
        lines.append(f"model: {record['model']}")
    return lines


def manifest(paths: list[Path], root: str | Path = ".") -> list[dict[str, str]]:
    """One entry per artifact: path, sha256 and the rule that made it (from its record)."""
    entries = []
    for path in sorted(paths):
        relative = Path(path).relative_to(root) if Path(path).is_absolute() else Path(path)
        record_file = record_path(Path(root) / relative)
        rule = json.loads(record_file.read_text())["rule"] if record_file.is_file() else "source"
        entries.append({"path": str(relative), "sha256": sha256_of(Path(root) / relative), "rule": rule})
    return entries
