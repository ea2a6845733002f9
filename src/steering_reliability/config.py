"""Checks of a study config beyond its JSON schema, run before any compute.

The schema (workflow/schemas/config.schema.yaml) catches unknown keys, wrong types
and out-of-range values; these checks need the package's knowledge: which datasets
exist, which embedded models exist and how many layers they have.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from steering_reliability.embedded import EMBEDDED_MODELS
from steering_reliability.items import known_datasets

# Decoder blocks of the embedded models (checked against the loaded models in the tests).
EMBEDDED_LAYERS = {"qwen2.5-coder-0.5b-instruct": 24, "smollm2-135m-instruct": 30}


class ConfigError(ValueError):
    pass


def _suggest(value: str, options: list[str]) -> str:
    close = difflib.get_close_matches(value, options, n=3)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def check_config(config: dict) -> None:
    """Raise ``ConfigError`` naming the key and the allowed values of the first problem found."""
    known = known_datasets()
    for index, name in enumerate(config["data"]["datasets"]):
        if name not in known:
            raise ConfigError(f"data.datasets[{index}]: unknown dataset {name!r}{_suggest(name, known)}")
    max_items = config["data"].get("max_items")
    if max_items is not None and max_items // 2 < 1:
        raise ConfigError(f"data.max_items: {max_items} is too small to split into a train and a test half (need >= 2)")
    multipliers = config["steering"]["multipliers"]
    if len(set(multipliers)) != len(multipliers):
        raise ConfigError(f"steering.multipliers: duplicated values in {multipliers}")
    if 0 not in multipliers:
        raise ConfigError(f"steering.multipliers: must include 0 (the unsteered propensity), got {multipliers}")
    example = config.get("figures", {}).get("example_dataset")
    if example is not None and example not in config["data"]["datasets"]:
        raise ConfigError(f"figures.example_dataset: {example!r} is not one of data.datasets")
    for section in ("ood", "sweep"):
        names = config.get(section, {}).get("datasets", [])
        for index, name in enumerate([] if names == "all" else names):
            if name not in config["data"]["datasets"]:
                raise ConfigError(f"{section}.datasets[{index}]: {name!r} is not one of data.datasets")
    sweep = config.get("sweep", {})
    if sweep.get("datasets") and 0 in sweep.get("multipliers", []):
        raise ConfigError("sweep.multipliers: the layer sweep uses multipliers without 0 (STUDY.md)")
    for name, entry in config["models"].items():
        if entry["layer"] == "auto" and not sweep.get("datasets"):
            raise ConfigError(f"models.{name}.layer: 'auto' needs the layer sweep: set sweep.datasets")
        key = f"models.{name}"
        if entry["source"] == "embedded":
            if entry["id"] not in EMBEDDED_MODELS:
                raise ConfigError(
                    f"{key}.id: unknown embedded model {entry['id']!r}; known: {', '.join(sorted(EMBEDDED_MODELS))}"
                )
            layers = EMBEDDED_LAYERS[entry["id"]]
            if entry["layer"] != "auto" and not 0 <= entry["layer"] < layers:
                raise ConfigError(
                    f"{key}.layer: {entry['layer']} is out of range: {entry['id']} has layers 0..{layers - 1}"
                )
        elif entry["source"] == "local":
            if not (Path(entry["id"]).expanduser() / "config.json").is_file():
                raise ConfigError(f"{key}.id: {entry['id']} is not a readable model directory (no config.json)")
