"""Checks of a study config beyond its JSON schema, run before any compute.

The schema (workflow/schemas/config.schema.yaml) catches unknown keys, wrong types and
out-of-range values, and fills in the defaults; these checks need the package's
knowledge: which datasets exist and which have persona sentences, which embedded models
exist and how many layers they (or a local model directory) have, whether the paths the
config names exist. Each problem is reported with the key that causes it.
"""

from __future__ import annotations

import difflib
import json
import math
from pathlib import Path

from steering_reliability.analysis.layers import eligible_layers
from steering_reliability.data.design import design_settings, study_table
from steering_reliability.data.items import DatasetFormatError, dataset_kind_and_path, known_datasets
from steering_reliability.data.prompts import CHAT_TEMPLATE, REPEPO_FORMATS
from steering_reliability.data.sources import persona_prompts_file, read_manifest
from steering_reliability.data.study_datasets import (
    has_persona_sentences,
    needs_persona_file,
    ood_datasets,
    study_datasets,
    sweep_datasets,
)
from steering_reliability.data.user_datasets import FILE_SUFFIXES, SAFE_NAME, user_entries, user_items
from steering_reliability.model.embedded import EMBEDDED_MODELS
from steering_reliability.model.vector_names import METHODS, NULLS

# Decoder blocks of the embedded models (checked against the loaded models in the tests).
EMBEDDED_LAYERS = {"qwen2.5-coder-0.5b-instruct": 24, "smollm2-135m-instruct": 30}
# Test items per dataset below which the per-dataset statistics (a variance, an OLS with two
# factors and an intercept) have no residual degrees of freedom to speak of.
MIN_ITEMS_PER_SPLIT = 4


class ConfigError(ValueError):
    pass


def _suggest(value: str, options: list[str]) -> str:
    close = difflib.get_close_matches(value, options, n=3)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def _check_numbers(key: str, values: list) -> None:
    for index, value in enumerate(values):
        if not math.isfinite(value):
            raise ConfigError(f"{key}[{index}]: {value} is not a finite number")


def _dataset_list(config: dict, section: str) -> list[str]:
    """The OOD study's datasets (a subset of data.datasets) or the sweep's (any known datasets)."""
    if config[section]["datasets"] == "all":
        return ood_datasets(config) if section == "ood" else sweep_datasets(config)
    names = config[section]["datasets"]
    datasets = config["data"]["datasets"]
    known = study_datasets(config)
    for index, name in enumerate(names):
        if section == "ood" and name not in datasets:
            raise ConfigError(f"{section}.datasets[{index}]: {name!r} is not one of data.datasets")
        if name not in known:
            raise ConfigError(f"{section}.datasets[{index}]: unknown dataset {name!r}{_suggest(name, known)}")
    return list(names)


# The paper code's prompt format for a model family, recognised from the model id (protocol paper-exact).
_FAMILY_FORMATS = (("llama-2", "repepo-llama2-chat"), ("qwen", "repepo-qwen-chat"), ("gemma", "repepo-gemma-chat"))


def resolve_protocol(config: dict) -> None:
    """Fill in what ``protocol`` decides: data.split and every model's prompt_format (where left null).

    ``default``: disjoint halves and each model's chat template. ``paper-exact``: the paper code's
    overlapping test slice (repo-exact) and its prompt strings; a model whose family is not
    recognised from its id must name its repepo prompt format.
    """
    paper = config["protocol"] == "paper-exact"
    split = config["data"]["split"]
    if paper and split not in (None, "repo-exact"):
        raise ConfigError(f"data.split: {split!r} contradicts protocol: paper-exact (which uses repo-exact)")
    config["data"]["split"] = split or ("repo-exact" if paper else "disjoint")
    if paper and config["data"]["counterbalance"]:
        raise ConfigError(
            "data.counterbalance: true contradicts protocol: paper-exact (the paper's single answer order)"
        )
    if config["data"]["counterbalance"] is None:
        config["data"]["counterbalance"] = not paper
    for name, entry in config["models"].items():
        if entry["prompt_format"] is None:
            if not paper:
                entry["prompt_format"] = CHAT_TEMPLATE
                continue
            identity = entry["id"].lower()
            formats = [prompt_format for family, prompt_format in _FAMILY_FORMATS if family in identity]
            if not formats:
                raise ConfigError(
                    f"models.{name}.prompt_format: protocol paper-exact needs one of {', '.join(REPEPO_FORMATS)}; "
                    f"none is known for {entry['id']!r}"
                )
            entry["prompt_format"] = formats[0]
        elif paper and entry["prompt_format"] == CHAT_TEMPLATE:
            raise ConfigError(f"models.{name}.prompt_format: chat_template contradicts protocol: paper-exact")


def model_layer_count(entry: dict) -> int | None:
    """Decoder blocks of a model whose config can be read before any download (embedded, local)."""
    if entry["source"] == "embedded":
        return EMBEDDED_LAYERS.get(entry["id"])
    if entry["source"] == "local":
        config_file = Path(entry["id"]).expanduser() / "config.json"
        text = json.loads(config_file.read_text())
        text = text.get("text_config", text)
        return text.get("num_hidden_layers")
    return None


def _check_data(config: dict) -> None:
    data = config["data"]
    known = study_datasets(config)
    for index, name in enumerate(data["datasets"]):
        if name not in known:
            raise ConfigError(f"data.datasets[{index}]: unknown dataset {name!r}{_suggest(name, known)}")
    if data["mirror"] is not None and not Path(data["mirror"]).is_dir():
        raise ConfigError(
            f"data.mirror: {data['mirror']} is not a folder (resolved from {Path.cwd()}); "
            "set it to a local copy of the raw files, or to null to download them from their upstream repositories"
        )
    if data["max_items"] is not None and data["max_items"] // 2 < MIN_ITEMS_PER_SPLIT:
        raise ConfigError(
            f"data.max_items: {data['max_items']} gives {data['max_items'] // 2} test item(s) per dataset; the "
            f"per-dataset statistics need at least {MIN_ITEMS_PER_SPLIT} (max_items >= {2 * MIN_ITEMS_PER_SPLIT})"
        )


def _check_manifest(config: dict) -> None:
    """A checksum manifest that replaces the pinned one must exist and list every raw file the study reads."""
    manifest = Path(config["data"]["checksums"])
    if not manifest.is_file():
        raise ConfigError(f"data.checksums: {manifest} is not a file")
    try:
        listed = read_manifest(manifest)
    except (OSError, ValueError) as error:
        raise ConfigError(f"data.checksums: {manifest} is not a sha256sum manifest ({error})") from None
    names = (set(config["data"]["datasets"]) | set(_dataset_list(config, "sweep"))) - set(user_entries(config))
    needed = {dataset_kind_and_path(name)[1]: name for name in sorted(names)}
    if needs_persona_file(config):
        needed[persona_prompts_file(config["data"]["mirror"])] = "the OOD study's persona sentences"
    for raw_path, user in needed.items():
        if raw_path not in listed:
            raise ConfigError(f"data.checksums: {manifest} has no sha256 for {raw_path} (needed by {user})")


def _check_steering(config: dict) -> None:
    multipliers = config["steering"]["multipliers"]
    _check_numbers("steering.multipliers", multipliers)
    if 0 not in multipliers:
        raise ConfigError(f"steering.multipliers: must include 0 (the unsteered propensity), got {multipliers}")
    if len(multipliers) < 3:
        raise ConfigError(f"steering.multipliers: a slope needs 0 and at least two other values, got {multipliers}")
    sweep = config["sweep"]
    _check_numbers("sweep.multipliers", sweep["multipliers"])
    if sweep["datasets"] and 0 in sweep["multipliers"]:
        raise ConfigError("sweep.multipliers: the layer sweep uses multipliers without 0 (docs/protocol.md)")
    for key in ("train_percent", "test_percent", "auto_depth"):
        first, last = sweep[key]
        if not first < last:
            raise ConfigError(f"sweep.{key}: {sweep[key]} is not a range [first, last] with first < last")


def _check_vectors(config: dict) -> None:
    """Known methods, and draws for every null that is asked for."""
    settings = config["vectors"]
    for index, method in enumerate(settings["methods"]):
        if method not in METHODS + NULLS:
            known = ", ".join(METHODS + NULLS)
            raise ConfigError(f"vectors.methods[{index}]: unknown method {method!r} (known: {known})")
    nulls = [method for method in settings["methods"] if method in NULLS]
    if nulls and settings["null_draws"] < 1:
        raise ConfigError(
            f"vectors.null_draws: {settings['null_draws']} draws, but vectors.methods asks for the {nulls[0]} null; "
            "give it at least 1 (20 or more for a p-value below 0.05)"
        )
    for index, method in enumerate(config["ood"]["methods"]):
        if method in NULLS:
            raise ConfigError(
                f"ood.methods[{index}]: {method!r} is a null; the nulls are compared in distribution only"
            )
        if method != "caa" and method not in settings["methods"]:
            raise ConfigError(f"ood.methods[{index}]: {method!r} is not among vectors.methods {settings['methods']}")


def _check_models(config: dict, sweep_datasets: list[str]) -> None:
    """Each model's id and layer; where its depth is known before any download (embedded, local), its layer or
    the sweep's auto_depth range against that depth."""
    for name, entry in config["models"].items():
        key = f"models.{name}"
        if entry["layer"] == "auto" and not sweep_datasets:
            raise ConfigError(f"{key}.layer: 'auto' needs the layer sweep: set sweep.datasets")
        if entry["source"] == "embedded" and entry["id"] not in EMBEDDED_MODELS:
            raise ConfigError(
                f"{key}.id: unknown embedded model {entry['id']!r}; known: {', '.join(sorted(EMBEDDED_MODELS))}"
            )
        if entry["source"] == "local" and not (Path(entry["id"]).expanduser() / "config.json").is_file():
            raise ConfigError(f"{key}.id: {entry['id']} is not a readable model directory (no config.json)")
        layers = model_layer_count(entry)
        if layers is not None and entry["layer"] != "auto" and not 0 <= entry["layer"] < layers:
            raise ConfigError(
                f"{key}.layer: {entry['layer']} is out of range: {entry['id']} has layers 0..{layers - 1}"
            )
        if layers is not None and entry["layer"] == "auto":
            try:
                eligible_layers(layers, config["sweep"]["auto_depth"])
            except ValueError as error:
                raise ConfigError(f"{key}.layer: auto, but {error}") from None


def _check_user_datasets(config: dict, read_files: bool) -> None:
    """Each user dataset: a safe name that is not a built-in one, a readable file, rows that all make items
    (each bad row named by file, line and field) and enough of them for the split; read before any compute."""
    built_in = set(known_datasets())
    for name, entry in user_entries(config).items():
        key = f"data.user_datasets.{name}"
        if not SAFE_NAME.match(name):
            raise ConfigError(
                f"{key}: {name!r} is not a safe dataset name (letters, digits, '-' and '_', starting with a letter "
                "or digit): it becomes a folder and a file name"
            )
        if name in built_in:
            raise ConfigError(f"{key}: {name!r} is the name of a built-in dataset; give yours another name")
        if not entry.get("file"):
            continue
        path = Path(entry["file"]).expanduser()
        if path.suffix.lower() not in FILE_SUFFIXES:
            raise ConfigError(f"{key}.file: {path} is not a {', '.join(FILE_SUFFIXES)} file")
        if not read_files:
            continue
        if not path.is_file():
            raise ConfigError(f"{key}.file: {path} is not a file (resolved from {Path.cwd()})")
        try:
            items = user_items(name, entry, path)
            table = study_table(items, design_settings(config, name))
        except (DatasetFormatError, ValueError) as error:
            raise ConfigError(f"{key}: {error}") from None
        tests = int(((table["split"] == "test") & table["selected"] & (table["order"] == "given")).sum())
        if tests < MIN_ITEMS_PER_SPLIT:
            raise ConfigError(
                f"{key}: {path} has {len(items)} items, which give {tests} test item(s) under data.split = "
                f"{config['data']['split']!r}; the per-dataset statistics need at least {MIN_ITEMS_PER_SPLIT}"
            )


def check_config(config: dict, read_user_files: bool = True) -> None:
    """Resolve the protocol, then raise ``ConfigError`` naming the key of the first problem found.

    ``config`` has the schema's defaults filled in. ``read_user_files`` reads every local user dataset through
    (the workflow's main process does; a job on a node without the user's files does not).
    """
    resolve_protocol(config)
    _check_data(config)
    _check_user_datasets(config, read_user_files)
    _check_steering(config)
    _check_vectors(config)
    example = config["figures"]["example_dataset"]
    if example is not None and example not in config["data"]["datasets"]:
        raise ConfigError(f"figures.example_dataset: {example!r} is not one of data.datasets")
    for name in _dataset_list(config, "ood"):
        if has_persona_sentences(config, name):
            continue
        if name in user_entries(config):
            raise ConfigError(
                f"ood.datasets: {name!r} has no persona sentences: give data.user_datasets.{name}.persona "
                "{positive: ..., negative: ...}, or leave it out of the OOD study"
            )
        raise ConfigError(
            f"ood.datasets: {name!r} has no persona sentences in the paper's code, so it has no OOD prompt variants"
        )
    _check_models(config, _dataset_list(config, "sweep"))
    if config["data"]["checksums"] is not None:
        _check_manifest(config)


def check_hub_cache(config: dict, shared_filesystem: bool) -> None:
    """Hub weights are downloaded once per study into compute.hub_cache: every model job must read that folder.

    Without a shared filesystem (a default storage provider: Kubernetes) each job starts in an empty
    working directory, so a folder inside it would make every job download the weights again.
    """
    if shared_filesystem or not any(entry["source"] == "huggingface" for entry in config["models"].values()):
        return
    cache = config["compute"]["hub_cache"]
    if not Path(cache).expanduser().is_absolute() or config["compute"]["prepare_models"] != "job":
        raise ConfigError(
            f"compute.hub_cache: {cache} (prepare_models: {config['compute']['prepare_models']}) is not a folder "
            "every job of a run without a shared filesystem can read, so every model job would download the weights "
            "again: mount a persistent volume in every job (--kubernetes-persistent-volumes <claim>:/models), then "
            "set compute.hub_cache: /models/hub and compute.prepare_models: job (README, 'Weights')"
        )
