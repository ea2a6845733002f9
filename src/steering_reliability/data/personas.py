"""Persona sentences of the out-of-distribution study, per dataset: (positive, negative).

The paper's code keeps them as Python dict literals in
``repepo/experiments/persona_prompts.py`` (github dtch1997/repepo at the pinned commit).
That file is parsed with :mod:`ast` and its literals read with ``ast.literal_eval``:
nothing of it is imported or run. A local mirror may instead hold the JSON extracted
from it (key ``all_persona_prompts``); both give the same sentences.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

# The module-level dict that merges every category (``**POLITICS_PROMPTS, ...``).
ALL_PROMPTS = "PERSONA_PROMPTS"
# The known datasets that the pinned file has no sentences for (its 152 entries cover the
# other 152 of the 155 datasets; checked when the file is read, in the persona_sentences rule).
WITHOUT_PERSONA_SENTENCES = frozenset(
    {"high-discount-factor", "low-discount-factor", "self-awareness-training-nn-architecture"}
)


class PersonaFormatError(ValueError):
    """A persona file that does not hold (positive, negative) sentence pairs; names file and line."""


def _module_dicts(tree: ast.Module) -> dict[str, ast.Dict]:
    dicts = {}
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
        target = node.target if isinstance(node, ast.AnnAssign) else target
        if isinstance(target, ast.Name) and isinstance(node.value, ast.Dict):
            dicts[target.id] = node.value
    return dicts


def parse_persona_source(text: str, origin: str | Path) -> dict[str, tuple[str, str]]:
    """The (positive, negative) pairs of ``PERSONA_PROMPTS`` in repepo's persona_prompts.py."""
    try:
        dicts = _module_dicts(ast.parse(text))
    except SyntaxError as error:
        raise PersonaFormatError(f"{origin}:line {error.lineno}: not Python source: {error.msg}") from None

    def evaluate(node: ast.Dict, seen: tuple[str, ...]) -> dict[str, tuple[str, str]]:
        merged: dict[str, tuple[str, str]] = {}
        for key, value in zip(node.keys, node.values):
            if key is None:  # **NAME: another module-level dict
                if not isinstance(value, ast.Name) or value.id not in dicts or value.id in seen:
                    raise PersonaFormatError(f"{origin}:line {value.lineno}: cannot resolve this ** entry")
                merged.update(evaluate(dicts[value.id], (*seen, value.id)))
                continue
            try:
                name, pair = ast.literal_eval(key), ast.literal_eval(value)
            except ValueError:
                raise PersonaFormatError(f"{origin}:line {key.lineno}: not a literal persona entry") from None
            if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(s, str) for s in pair)):
                raise PersonaFormatError(f"{origin}:line {key.lineno}: {name!r} is not a (positive, negative) pair")
            merged[name] = pair
        return merged

    if ALL_PROMPTS not in dicts:
        raise PersonaFormatError(f"{origin}: no module-level dict {ALL_PROMPTS}")
    return evaluate(dicts[ALL_PROMPTS], (ALL_PROMPTS,))


def read_persona_prompts(path: str | Path) -> dict[str, tuple[str, str]]:
    """Persona sentences from repepo's source (.py) or the mirror's extracted JSON (.json)."""
    path = Path(path)
    if path.suffix == ".py":
        return parse_persona_source(path.read_text(encoding="utf-8"), path)
    try:
        table = json.loads(path.read_text(encoding="utf-8"))["all_persona_prompts"]
        return {name: (entry["positive"], entry["negative"]) for name, entry in table.items()}
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise PersonaFormatError(f"{path}: not a persona prompts file ({type(error).__name__}: {error})") from None
