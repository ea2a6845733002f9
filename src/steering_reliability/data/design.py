"""How a dataset's items are laid out for the study: answer order, shuffle, split, counterbalanced twins.

The paper's code builds every persona file's answer order with the same rule (the matching answer at (B) when
``(i // 2) % 2 == 0``, TruthfulQA's on odd item numbers) and shuffles every dataset with the same seed, so two
files of the same length put the same factor cells (A/B x Yes/No) at the same places: cross-dataset statistics
then compare one pattern with itself (docs/protocol.md, section 2). ``protocol: paper-exact`` keeps those rules.
Under the default protocol each dataset draws its own design:

* ``dataset_seed(seed, name, purpose)``: the first 8 bytes (big-endian) of sha256("{seed}/{name}/{purpose}"), a
  seed that differs between datasets, and between the answer order ("order") and the shuffle ("shuffle");
* ``drawn_order(items, rng)``: within each Yes/No stratum (one stratum where there is no Yes/No answer), a random
  half of the items (``rng.sample``; the odd item out goes to (A)) get the matching answer at (A), the rest at (B)
  (``answer_order.with_matching_at``). Only where the answer order is made by a rule (persona files and a user's
  ``statement`` datasets, TruthfulQA); a question written with its choices (advanced AI risk, sycophancy, a user's
  ``choices`` dataset) keeps its authors' order, which differs from file to file and is balanced in every one of
  the paper's files;
* ``design_settings(config, name)``: what decides dataset ``name``'s layout (the build rule's params: a change to
  any other key of the config does not rebuild the dataset);
* ``study_table(items, settings)``: the drawn order, the shuffle and split (``items.split_items``), and the swapped
  twins of ``data.counterbalance`` (``answer_order.with_design``): the prepared dataset's table.
"""

from __future__ import annotations

import hashlib
import random

import pandas as pd

from steering_reliability.data.answer_order import with_design, with_matching_at
from steering_reliability.data.items import PERSONA, TRUTHFULQA, Item, dataset_kind_and_path, split_items
from steering_reliability.data.user_datasets import STATEMENT

PAPER_EXACT = "paper-exact"


def dataset_seed(seed: int, name: str, purpose: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}/{name}/{purpose}".encode()).digest()[:8], "big")


def drawn_order(items: list[Item], rng: random.Random) -> list[Item]:
    """``items`` in file order, each with its matching answer at (A) or (B) as drawn (balanced per Yes/No stratum)."""
    at_a: dict[int, bool] = {}
    for stratum in (True, False, None):
        members = [index for index, item in enumerate(items) if item.positive_is_yes is stratum]
        chosen = set(rng.sample(members, (len(members) + 1) // 2))
        at_a.update({index: index in chosen for index in members})
    return [with_matching_at(item, at_a[index]) for index, item in enumerate(items)]


def order_is_made(name: str, data: dict) -> bool:
    """Whether dataset ``name``'s answer order comes from a rule rather than from how its questions were written."""
    user = (data.get("user_datasets") or {}).get(name)
    if user is not None:
        return user["form"] == STATEMENT
    return dataset_kind_and_path(name)[0] in (PERSONA, TRUTHFULQA)


def design_settings(config: dict, name: str) -> dict:
    """The settings of ``study_table`` for dataset ``name`` of a checked config (``config.check_config``)."""
    data = config["data"]
    own = config["protocol"] != PAPER_EXACT
    return {
        "name": name,
        "seed": data["seed"],
        "split": data["split"],
        "max_items": data["max_items"],
        "counterbalance": data["counterbalance"],
        "own_shuffle": own,
        "draw_order": own and order_is_made(name, data),
    }


def study_table(items: list[Item], settings: dict) -> pd.DataFrame:
    """The prepared table of a dataset under its ``design_settings``."""
    seed, name = settings["seed"], settings["name"]
    if settings["draw_order"]:
        items = drawn_order(items, random.Random(dataset_seed(seed, name, "order")))
    if settings["own_shuffle"]:
        seed = dataset_seed(seed, name, "shuffle")
    table = split_items(items, seed, settings["split"], settings["max_items"])
    return with_design(table, settings["counterbalance"])
