"""Model jobs that cover a group of datasets: the model is loaded once per group, not once per dataset.

The workflow splits each model stage's datasets (``compute.datasets_per_job``) into groups of
near-equal size in config order, and defines one job per (model, group). Inside the job every
dataset runs as it would alone: the same per-dataset inputs, outputs, log and provenance
records, the rule name and wildcards of the stage (``cache_activations``, model, dataset), so
an artifact's bytes do not depend on the grouping. ``run_datasets`` does this:

* each dataset runs in its own ``script_context`` (its own log, its inputs checked against their
  records, its own provenance records), through a view of the job that holds only that dataset;
* the model is loaded at the first dataset that needs it, and once;
* each finished dataset's outputs (with their records) are hard-linked into a resume store,
  ``results/.resume/<model>/<rule>/<dataset>/<key>/``, where the key hashes the dataset's input
  files, its parameters (the code version among them) and the package versions. When a dataset
  fails, Snakemake deletes the job's outputs, finished ones included; the rerun of the job links
  the finished datasets back from the store (same key: same inputs, code and parameters) and
  computes only the rest. The store of a group is emptied when the whole group has finished.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

from steering_reliability.data.sources import sha256_of
from steering_reliability.data.study_datasets import sweep_datasets
from steering_reliability.run.provenance import package_versions, record_path
from steering_reliability.run.scripting import script_context

RESUME_ROOT = Path("results/.resume")
# stage (compute.datasets_per_job key) -> the rule name every artifact of the stage records
STAGE_RULES = {"activations": "cache_activations", "evaluation": "evaluate_steering", "sweep": "layer_sweep"}


def groups(datasets: list[str], per_job: int) -> list[list[str]]:
    """``datasets`` in consecutive groups of at most ``per_job``, as equal in size as possible (config order)."""
    if per_job < 1:
        raise ValueError(f"datasets per job must be at least 1, not {per_job}")
    count = -(-len(datasets) // per_job)
    size, larger = divmod(len(datasets), count) if count else (0, 0)
    result, start = [], 0
    for index in range(count):
        end = start + size + (index < larger)
        result.append(list(datasets[start:end]))
        start = end
    return result


def stage_datasets(config: dict) -> dict[str, list[str]]:
    """Each model stage's datasets, in config order (``sweep.datasets: all`` = ``data.datasets``)."""
    datasets = list(config["data"]["datasets"])
    return {"activations": datasets, "evaluation": datasets, "sweep": sweep_datasets(config)}


def stage_groups(config: dict) -> dict[str, list[list[str]]]:
    """Each model stage's datasets, one list per job (``compute.datasets_per_job``)."""
    per_job = config["compute"]["datasets_per_job"]
    return {stage: groups(names, per_job[stage]) for stage, names in stage_datasets(config).items()}


def _namedlist(snakemake, mapping: dict):
    """A container like the job's own (Snakemake's named list: by name, by position, iterated)."""
    return type(snakemake.params)(fromdict=mapping)


def dataset_view(snakemake, dataset: str, planned: dict) -> SimpleNamespace:
    """The job as it would be if it covered ``dataset`` alone (what the stage's per-dataset code reads)."""
    params = {key: value for key, value in snakemake.params.items() if key != "datasets"}
    params.update(planned["params"])
    return SimpleNamespace(
        rule=planned["rule"],
        job=snakemake.rule,
        wildcards=_namedlist(snakemake, {"model": snakemake.wildcards.model, "dataset": dataset}),
        input=_namedlist(snakemake, planned["input"]),
        output=_namedlist(snakemake, planned["output"]),
        log=_namedlist(snakemake, planned["log"]),
        params=_namedlist(snakemake, params),
        config=snakemake.config,
        threads=snakemake.threads,
        resources=snakemake.resources,
        scriptdir=getattr(snakemake, "scriptdir", os.getcwd()),
    )


def resume_key(view) -> str:
    """What a dataset's outputs are a function of: its input files' bytes, its parameters, the packages."""
    described = {
        "rule": view.rule,
        "wildcards": dict(view.wildcards.items()),
        "inputs": {path: sha256_of(path) for path in map(str, view.input) if Path(path).is_file()},
        "params": dict(view.params.items()),
        "packages": package_versions(),
    }
    canonical = json.dumps(described, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]


def _link(source: Path, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.unlink(missing_ok=True)
    try:
        os.link(source, destination)
    except OSError:  # a file system without hard links: a copy
        shutil.copy2(source, destination)


class ResumeStore:
    """The finished datasets of a model job, kept until the whole job has finished."""

    def __init__(self, model: str, rule: str, root: Path = RESUME_ROOT):
        self.folder = Path(root) / model / rule

    def _entry(self, view, key: str) -> Path:
        return self.folder / view.wildcards.dataset / key

    def keep(self, view, key: str) -> None:
        entry = self._entry(view, key)
        if entry.parent.exists():
            shutil.rmtree(entry.parent)
        for name, path in view.output.items():
            for source in (Path(path), record_path(path)):
                _link(source, entry / name / source.name)

    def restore(self, view, key: str) -> bool:
        """Link a dataset's finished outputs back into place; False when the store has none for ``key``."""
        entry = self._entry(view, key)
        stored = [(entry / name / Path(path).name, Path(path)) for name, path in view.output.items()]
        if not all(source.is_file() and record_path(source).is_file() for source, _ in stored):
            return False
        for source, destination in stored:
            _link(record_path(source), record_path(destination))
            _link(source, destination)
        return True

    def clear(self, datasets: list[str]) -> None:
        """Forget ``datasets`` (their outputs stay in place), and the store's folders once empty."""
        for dataset in datasets:
            shutil.rmtree(self.folder / dataset, ignore_errors=True)
        for folder in (self.folder, self.folder.parent, self.folder.parent.parent):
            with contextlib.suppress(OSError):  # not empty: another job's datasets are kept there
                folder.rmdir()


class _Model:
    """The job's model, loaded at the first call and kept until the job ends."""

    def __init__(self, snakemake, stack: contextlib.ExitStack):
        self.snakemake, self.stack, self.loaded = snakemake, stack, None

    def __call__(self):
        if self.loaded is None:
            from steering_reliability.model.model_jobs import model_job

            self.loaded = self.stack.enter_context(model_job(self.snakemake))
        return self.loaded


def run_datasets(snakemake, compute: Callable[..., None]) -> None:
    """Run ``compute(view, engine, tokenizer, log)`` for every dataset of the job (module docstring)."""
    planned = snakemake.params.datasets
    store = ResumeStore(snakemake.wildcards.model, next(iter(planned.values()))["rule"])
    finished: list[str] = []
    with contextlib.ExitStack() as stack:
        model = _Model(snakemake, stack)
        for position, (dataset, plan) in enumerate(planned.items(), start=1):
            view = dataset_view(snakemake, dataset, plan)
            key = resume_key(view)
            if store.restore(view, key):
                _note_restored(view, store)
                finished.append(dataset)
                continue
            try:
                with script_context(view) as log:
                    log.info("dataset %d of %d of job %s (one model load per job)", position, len(planned), view.job)
                    compute(view, *model(), log)
            except SystemExit:
                if finished:
                    print(
                        f"  job {snakemake.rule}: {len(finished)} finished dataset(s) of {len(planned)} are kept in "
                        f"{store.folder} for its rerun: {', '.join(finished)}",
                        file=sys.__stderr__,
                        flush=True,
                    )
                raise
            store.keep(view, key)
            finished.append(dataset)
    store.clear(list(planned))


def _note_restored(view, store: ResumeStore) -> None:
    log = view.log[0] if view.log else None
    message = (
        f"rule {view.rule}, dataset {view.wildcards.dataset}: outputs restored from {store.folder} "
        "(finished by an earlier attempt of this job on the same inputs, parameters and packages)\n"
    )
    if log:
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a") as handle:
            handle.write(message)
