"""The names of the vector methods, and how their directions are named in a vectors file.

A vectors file (``results/{model}/vectors/{dataset}.safetensors``) holds the study's own vectors (``baseline``, the
CAA vector, and the OOD study's variant vectors) and, with ``vectors.methods``, the other methods' directions as
``method.<name>`` (``method.pca``; ``method.random_3`` for draw 3 of a null). The methods' directions are evaluated
on the baseline prompts only; everything that reads the study's own vectors leaves them out.
"""

from __future__ import annotations

from steering_reliability.variants import BASELINE

METHODS = ("caa", "pca", "probe", "whitened")
NULLS = ("random", "shuffled")
PREFIX = "method."


def is_method_vector(name: str) -> bool:
    return name.startswith(PREFIX)


def without_methods(vectors: dict) -> dict:
    """The study's own vectors of a vectors file (the baseline and the OOD study's), without the methods'."""
    return {name: vector for name, vector in vectors.items() if not is_method_vector(name)}


def method_of(vector: str) -> tuple[str, int | None]:
    """(method, null draw) of a vector's name: "baseline" -> ("caa", None), "method.random_3" -> ("random", 3)."""
    if vector == BASELINE:
        return "caa", None
    name = vector[len(PREFIX) :]
    method, _, draw = name.rpartition("_")
    return (method, int(draw)) if method in NULLS else (name, None)
