"""The order of an item's two answers: swapping them, and counterbalanced pairs of items.

Every item of the study is an A/B question whose behaviour-matching answer sits at (A) or (B). That position is
a spurious factor (docs/protocol.md, section 6): a vector that moves the letter "A" against "B" looks steerable on
the items whose matching answer is (A) and anti-steerable on the others. Evaluating every item in both orders
separates the two:

* ``swapped(item)``: the same question with the contents of its (A) and (B) choices exchanged, so the matching
  letter flips. The choices must be the question's last two labelled lines, (A) then (B), as in every item of
  the paper's data (a few advanced-AI-risk questions quote earlier "(A)"/"(B)" lines or a "(Q)" line before
  them; only the last two are the choices). Swapping twice gives the item back, byte for byte.
* ``with_matching_at(item, at_a)``: the item in the order that puts its matching answer at (A) or at (B) (the
  default protocol draws each dataset's order, ``design``).
* ``with_swapped_twins(table)``: an item table (``items.split_items``) with every row followed by its swapped
  twin: ``item_id`` "<id>~swapped", ``pair_id`` the original id, ``order`` "given" or "swapped". The twins are
  more items to every stage (cache, vectors, evaluation), so both orders share the same forward passes, and a
  CAA vector trained on both orders has no letter component left.
* ``with_design(table, counterbalance)``: the prepared dataset's table: with the twins, or with every row its own
  pair (``pair_id`` = ``item_id``, ``order`` "given"), so every table has the two columns.

The analysis of such pairs is in ``position_effect``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, replace

import pandas as pd

from steering_reliability.data.items import DatasetFormatError, Item

TWIN_SUFFIX = "~swapped"
ORDERS = ("given", "swapped")
# the fields a swap changes
_SWAPPED = ("item_id", "question", "positive_answer", "negative_answer", "positive_is_a")
# A choice label at the start of a line, its indentation included: "(A) ...", " (B): ...".
_LABEL = re.compile(r"^[ \t]*\(([A-Z])\)", re.MULTILINE)


def swapped_question(question: str, where: str = "the question") -> str:
    """``question`` with the texts after its last (A) and (B) labels exchanged (each label stays in place)."""
    labels = list(_LABEL.finditer(question))
    if len(labels) < 2 or [label.group(1) for label in labels[-2:]] != ["A", "B"]:
        found = ", ".join(f"({label.group(1)})" for label in labels) or "none"
        raise DatasetFormatError(
            f"{where}: cannot swap its answers: its last two choice labels must be (A) then (B) (found: {found})"
        )
    a, b = labels[-2:]
    first = question[a.end() : b.start()]
    text_a = first.rstrip("\n")
    gap = first[len(text_a) :]
    return question[: a.end()] + question[b.end() :] + gap + question[b.start() : b.end()] + text_a


def swapped(item: Item) -> Item:
    """The item with its answers in the other order: the question's choices exchanged, the letters flipped."""
    return replace(
        item,
        item_id=item.item_id + TWIN_SUFFIX,
        question=swapped_question(item.question, item.item_id),
        positive_answer=item.negative_answer,
        negative_answer=item.positive_answer,
        positive_is_a=not item.positive_is_a,
    )


def with_matching_at(item: Item, at_a: bool) -> Item:
    """The item, its id kept, with the behaviour-matching answer at (A) (``at_a``) or at (B)."""
    if item.positive_is_a == at_a:
        return item
    return replace(swapped(item), item_id=item.item_id)


def with_swapped_twins(table: pd.DataFrame) -> pd.DataFrame:
    """Every row of an item table followed by its swapped twin (same split, position and selection)."""
    given = table.assign(pair_id=table["item_id"], order=ORDERS[0])
    rows = given[list(Item.__dataclass_fields__)].to_dict("records")
    swaps = pd.DataFrame([asdict(swapped(Item(**row))) for row in rows], index=given.index)
    twins = given.assign(**{column: swaps[column] for column in _SWAPPED}, order=ORDERS[1])
    return pd.concat([given, twins]).sort_index(kind="stable").reset_index(drop=True)


def with_design(table: pd.DataFrame, counterbalance: bool) -> pd.DataFrame:
    """The item table of a prepared dataset under ``data.counterbalance``."""
    return with_swapped_twins(table) if counterbalance else table.assign(pair_id=table["item_id"], order=ORDERS[0])
