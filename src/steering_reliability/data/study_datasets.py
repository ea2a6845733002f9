"""Which datasets each part of a study covers: every name a config may list, the OOD study's datasets, the
layer sweep's, and those that stay in-distribution only because they have no persona sentences.
"""

from __future__ import annotations

from steering_reliability.data.items import known_datasets
from steering_reliability.data.personas import WITHOUT_PERSONA_SENTENCES
from steering_reliability.data.user_datasets import user_entries


def study_datasets(config: dict) -> list[str]:
    """Every dataset name a study may list: the built-in ones and the user's own (data.user_datasets)."""
    return known_datasets() + sorted(user_entries(config))


def has_persona_sentences(config: dict, name: str) -> bool:
    entry = user_entries(config).get(name)
    if entry is not None:
        return entry["persona"] is not None
    return name not in WITHOUT_PERSONA_SENTENCES


def ood_datasets(config: dict) -> list[str]:
    """The OOD study's datasets: as listed, or for ``all`` every dataset of data.datasets with persona sentences."""
    names = config["ood"]["datasets"]
    if names == "all":
        return [name for name in config["data"]["datasets"] if has_persona_sentences(config, name)]
    return list(names)


def id_only_datasets(config: dict) -> list[str]:
    """Datasets of the study without an OOD study, because they have no persona sentences (said in the summary)."""
    return [name for name in config["data"]["datasets"] if not has_persona_sentences(config, name)]


def sweep_datasets(config: dict) -> list[str]:
    names = config["sweep"]["datasets"]
    return list(config["data"]["datasets"]) if names == "all" else list(names)


def needs_persona_file(config: dict) -> bool:
    """Whether the OOD study reads the paper's persona sentences (one of its datasets is built in)."""
    return any(name not in user_entries(config) for name in ood_datasets(config))
