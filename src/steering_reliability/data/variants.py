"""Prompt variants of the out-of-distribution study (docs/protocol.md, "Out of distribution").

Each dataset has a persona sentence pair (repepo's persona prompts, read by
``steering_reliability.data.personas`` into ``results/datasets/persona_sentences.json``). The variants follow repepo's
``persona_pipeline``: SYS_* replace the system prompt with the sentence; PT_* keep the
default system prompt and put the sentence and a blank line in front of the user turn.
Models without a system role render the system prompt as the user turn's first
paragraph (``system_prompt: prepend`` in the model's config entry), SYS_* included.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

BASELINE = "baseline"
VARIANTS = [BASELINE, "SYS_pos", "SYS_neg", "PT_pos", "PT_neg"]
MEAN_VECTOR = "mean"
# The six steering vectors: one per training variant, and the mean of the five.
VECTORS = [*VARIANTS, MEAN_VECTOR]
# The paper's distribution shifts (train variant -> test variant), as in repepo's figures; its
# ID-vs-OOD correlation (and the cross-model OOD one) is computed on the first, SYS_pos -> PT_neg.
SHIFTS = [("SYS_pos", "PT_neg"), (BASELINE, "PT_neg"), (BASELINE, "PT_pos"), ("SYS_neg", "PT_pos")]
HEADLINE_SHIFT = SHIFTS[0]


@dataclass(frozen=True)
class VariantPrompt:
    system_prompt: str | None
    user_prefix: str | None


def persona_sentences(persona_sentences_json: str | Path, dataset: str) -> tuple[str, str]:
    """The (positive, negative) persona sentences of ``dataset`` (from the persona_sentences rule's JSON)."""
    table = json.loads(Path(persona_sentences_json).read_text())
    if dataset not in table:
        raise KeyError(f"{persona_sentences_json}: no persona sentences for dataset {dataset!r}")
    return table[dataset]["positive"], table[dataset]["negative"]


def variant_prompt(variant: str, default_system_prompt: str | None, sentences: tuple[str, str]) -> VariantPrompt:
    """System prompt and user-turn prefix of one prompt variant."""
    positive, negative = sentences
    sentence = {"pos": positive, "neg": negative}.get(variant.rsplit("_", 1)[-1])
    if variant == BASELINE:
        return VariantPrompt(default_system_prompt, None)
    if variant in ("SYS_pos", "SYS_neg"):
        return VariantPrompt(sentence, None)
    if variant in ("PT_pos", "PT_neg"):
        return VariantPrompt(default_system_prompt, f"{sentence}\n\n")
    raise ValueError(f"unknown prompt variant {variant!r}; known: {', '.join(VARIANTS)}")
