"""The names of the vector methods, and how their directions are named in a vectors file.

A vectors file (``results/{model}/vectors/{dataset}.safetensors``) holds the study's own vectors (``baseline``, the
CAA vector, and the OOD study's variant vectors) and, with ``vectors.methods``, the other methods' directions as
``method.<name>`` (``method.pca``; ``method.random_3`` for draw 3 of a null). The methods' directions are evaluated
on the baseline prompts only; everything that reads the study's own vectors leaves them out. With ``ood.methods``
beyond ``caa``, an OOD dataset's file also holds each such method's six OOD vectors as ``<method>:<vector>``
(``pca:SYS_pos``, ``pca:mean``), evaluated on every prompt variant like CAA's own.
"""

from __future__ import annotations

from steering_reliability.data.variants import BASELINE, VECTORS

METHODS = ("caa", "pca", "probe", "whitened")
NULLS = ("random", "shuffled")
PREFIX = "method."
OOD_SEPARATOR = ":"


def is_method_vector(name: str) -> bool:
    return name.startswith(PREFIX)


def without_methods(vectors: dict) -> dict:
    """The study's own vectors of a vectors file (the baseline and the OOD study's), without the methods'."""
    return {name: vector for name, vector in vectors.items() if not is_method_vector(name)}


def caa_vectors(vectors: dict) -> dict:
    """CAA's own vectors of a vectors file (the baseline and its OOD vectors), without any other method's."""
    return {name: vector for name, vector in without_methods(vectors).items() if OOD_SEPARATOR not in name}


def ood_name(method: str, vector: str) -> str:
    """The name of a method's OOD vector in a vectors file: CAA's keep their own names ("SYS_pos")."""
    return vector if method == "caa" else f"{method}{OOD_SEPARATOR}{vector}"


def split_ood_name(name: str) -> tuple[str, str]:
    """(method, OOD vector) of a vector evaluated on the prompt variants: "pca:SYS_pos" -> ("pca", "SYS_pos")."""
    method, separator, vector = name.rpartition(OOD_SEPARATOR)
    return (method, vector) if separator else ("caa", name)


def method_of(vector: str) -> tuple[str, int | None]:
    """(method, null draw) of a vector's name: "baseline" -> ("caa", None), "method.random_3" -> ("random", 3)."""
    if vector == BASELINE:
        return "caa", None
    name = vector[len(PREFIX) :]
    method, _, draw = name.rpartition("_")
    return (method, int(draw)) if method in NULLS else (name, None)


def evaluated_vectors(config: dict, in_ood: bool, variant: str) -> int:
    """How many vectors one prompt variant of a dataset is evaluated with: CAA's own (1, or its six OOD vectors in
    the OOD study) and six for each other method of ``ood.methods``; on the baseline prompts also every other
    method's direction and every null draw of ``vectors.methods``."""
    count = len(VECTORS) * len({"caa", *config["ood"]["methods"]}) if in_ood else 1
    if variant == BASELINE:
        draws = config["vectors"]["null_draws"]
        count += sum(draws if method in NULLS else 1 for method in config["vectors"]["methods"] if method != "caa")
    return count
