"""Sizing of a study from its config: disk, accelerator memory, minimum FLOPs and hours per stage.

For the paper-scale study (config/paper.yaml, the default) or any other config, e.g. the default
study on this CPU (config/config.yaml). Computed, not measured, from:

* the items: every dataset's raw file (a full local copy, ``--mirror``), split as the config says;
* the tokens: each item's prompt under its prompt variants (the five of the OOD study, or the
  baseline alone), tokenised with ``--tokenizer`` or, by default, each model's own tokenizer from
  its prepared folder (for the paper models, not downloaded here, Qwen2.5's BPE is a stand-in:
  Llama-2's SentencePiece tokenizer writes roughly 10-20% more tokens for English text, Gemma's
  about as many); the prefix every item of a dataset shares is counted once per dataset, as the
  engine computes it;
* the models' shapes (layers, hidden size, key/value width, non-embedding parameters): public
  numbers for the paper models, else read from ``resources/models/<name>`` after prepare_model;
  a model with ``layer: auto`` takes the layer its run chose (``results/<name>/layer.json``);
* FLOPs = 2 x non-embedding parameters per token and layer fraction (matmuls only): the prompt
  once, the unsteered answer tokens through every block, and one copy of them per steering setting
  above the steering layer (the engine's minimum; attention and the few logits are left out);
* memory: weights and key/value cache in the model's configured dtype;
* an assumed sustained throughput (``--tflops``, default 100 TFLOP/s per GPU: about a third of an A100's
  bf16 peak, for batches of short sequences), to be replaced by what the jobs' benchmark files
  (logs/{model}/benchmarks/) record on your GPUs.

    python benchmarks/study_sizing.py --mirror ../shared/datasets \
        --tokenizer resources/models/qwen2.5-coder-0.5b-instruct/transformers
    python benchmarks/study_sizing.py --config config/config.yaml --mirror ../shared/datasets --tflops 0.15

(0.15 TFLOP/s: two one-thread jobs at this machine's measured float32 matmul peak, ~76 GFLOP/s each.)
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import yaml
from snakemake.utils import validate
from transformers import AutoTokenizer

from steering_reliability.config import resolve_protocol
from steering_reliability.items import dataset_kind_and_path, load_items, selected, split_items
from steering_reliability.layers import sweep_rows
from steering_reliability.personas import read_persona_prompts
from steering_reliability.prompts import render_prompt
from steering_reliability.sources import persona_prompts_file
from steering_reliability.variants import BASELINE, VARIANTS, VECTORS, variant_prompt

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Shape:
    layers: int
    hidden: int
    kv_width: int  # key/value heads x head dimension
    parameters: float  # all weights
    non_embedding: float  # weights used per token in the matmuls


# From each model's config.json on the hub (the revisions pinned in config/paper.yaml).
SHAPES = {
    "llama-2-7b-chat": Shape(32, 4096, 4096, 6.74e9, 6.48e9),
    "qwen1.5-14b-chat": Shape(40, 5120, 5120, 14.17e9, 13.05e9),
    "gemma-2-2b-it": Shape(26, 2304, 1024, 2.61e9, 2.02e9),
}


def prepared_shape(model_dir: Path) -> Shape:
    """The shape of a prepared model: its config.json and the parameter count in its model.json."""
    record = json.loads((model_dir / "model.json").read_text())
    config = json.loads((Path(record["path"]) / "config.json").read_text())
    config = config.get("text_config", config)
    heads, hidden = config["num_attention_heads"], config["hidden_size"]
    head_dim = config.get("head_dim") or hidden // heads
    # the token embedding is a lookup; an untied output matrix is used only for the answer tokens' logits
    embeddings = config["vocab_size"] * hidden * (1 if config.get("tie_word_embeddings", True) else 2)
    return Shape(
        config["num_hidden_layers"],
        hidden,
        config.get("num_key_value_heads", heads) * head_dim,
        record["parameters"],
        record["parameters"] - embeddings,
    )


def model_layer(name: str, entry: dict, results: Path) -> int:
    if entry["layer"] != "auto":
        return int(entry["layer"])
    chosen = results / name / "layer.json"
    if not chosen.is_file():
        raise SystemExit(f"models.{name}.layer is auto: run the study's layer sweep first (no {chosen})")
    return int(json.loads(chosen.read_text())["layer"])


BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
ANSWER_TOKENS = 3  # "(", "A", ")" after the last prompt token: the branch is 1 + 2 fed tokens per completion


def shared_length(prompts: list[list[int]]) -> int:
    limit = min(len(p) for p in prompts) - 1
    shared = 0
    while shared < limit and all(p[shared] == prompts[0][shared] for p in prompts):
        shared += 1
    return shared


def prompt_tokens(tokenizer, questions, system_prompt, sentences, variant, prompt_format) -> int:
    """Tokens the engine runs for the prompts of ``questions`` under ``variant`` (shared prefix once)."""
    rendered = variant_prompt(variant, system_prompt, sentences)
    texts = [
        render_prompt(tokenizer, q, rendered.system_prompt, rendered.user_prefix, prompt_format=prompt_format)
        for q in questions
    ]
    prompts = tokenizer(texts, add_special_tokens=False)["input_ids"]
    shared = shared_length(prompts)
    return shared + sum(len(p) - shared for p in prompts)


@dataclass
class Workload:
    train_items: int = 0
    test_items: int = 0
    train_tokens: int = 0
    test_tokens: int = 0
    sweep_train_items: int = 0
    sweep_test_items: int = 0
    sweep_tokens: int = 0
    # (test items x prompt variants) and (... x vectors x variants): the branch passes
    test_variant_items: int = 0
    test_vector_variant_items: int = 0
    train_variant_items: int = 0


def workload(config, tokenizer, mirror: Path, personas, prompt_format) -> Workload:
    work = Workload()
    system = config["prompt"]["system_prompt"]
    split = config["data"]["split"]
    ood = config["data"]["datasets"] if config["ood"]["datasets"] == "all" else config["ood"]["datasets"]
    tables = {}
    for name in sorted(set(config["data"]["datasets"]) | set(config["sweep"]["datasets"])):
        items = load_items(name, mirror / dataset_kind_and_path(name)[1])
        tables[name] = split_items(items, config["data"]["seed"], split, config["data"]["max_items"])
    for name in config["data"]["datasets"]:
        train, test = selected(tables[name], "train"), selected(tables[name], "test")
        work.train_items += len(train)
        work.test_items += len(test)
        variants, vectors = (VARIANTS, VECTORS) if name in ood else ([BASELINE], [BASELINE])
        work.train_variant_items += len(train) * len(variants)
        work.test_variant_items += len(test) * len(variants)
        work.test_vector_variant_items += len(test) * len(variants) * len(vectors)
        sentences = personas[name] if name in ood else ("", "")
        for variant in variants:
            work.train_tokens += prompt_tokens(tokenizer, train["question"], system, sentences, variant, prompt_format)
            work.test_tokens += prompt_tokens(tokenizer, test["question"], system, sentences, variant, prompt_format)
    for name in config["sweep"]["datasets"]:
        for key in ("train_percent", "test_percent"):
            rows = sweep_rows(tables[name], config["sweep"][key], config["sweep"]["max_items"])
            if key == "train_percent":
                work.sweep_train_items += len(rows)
            else:
                work.sweep_test_items += len(rows)
            work.sweep_tokens += prompt_tokens(tokenizer, rows["question"], system, ("", ""), "baseline", prompt_format)
    return work


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(REPO / "config" / "paper.yaml"))
    parser.add_argument("--mirror", required=True, help="a full local copy of the raw files")
    parser.add_argument("--tokenizer", default=None, help="default: each model's own, from --models")
    parser.add_argument("--models", default=str(REPO / "resources" / "models"), help="prepared models")
    parser.add_argument("--results", default=str(REPO / "results"), help="a run's results (for layer: auto)")
    parser.add_argument(
        "--tflops", type=float, default=100.0, help="assumed sustained TFLOP/s (per GPU; for a CPU, of all its cores)"
    )
    arguments = parser.parse_args()
    config = yaml.safe_load(Path(arguments.config).read_text())
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"), set_default=True)
    resolve_protocol(config)
    mirror = Path(arguments.mirror)
    personas = read_persona_prompts(mirror / persona_prompts_file(mirror))
    settings = len(config["steering"]["multipliers"]) - 1  # steered multipliers per vector (0 is the unsteered run)
    sweep_settings = len(config["sweep"]["multipliers"])
    budget = config["compute"]["token_budget"]
    print(
        "| model | items train/test | prompt tokens train/test | activation cache | evaluation outputs | "
        "memory: weights + KV at the token budget | TFLOP: caches / evaluation / layer sweep | "
        f"hours at {arguments.tflops:g} TFLOP/s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for model, entry in config["models"].items():
        model_dir = Path(arguments.models) / model
        shape = SHAPES[model] if model in SHAPES else prepared_shape(model_dir)
        tokenizer = AutoTokenizer.from_pretrained(
            arguments.tokenizer or json.loads((model_dir / "model.json").read_text())["path"]
        )
        work = workload(config, tokenizer, mirror, personas, entry["prompt_format"])
        layer, depth = model_layer(model, entry, Path(arguments.results)), shape.layers
        per_token = 2 * shape.non_embedding / depth  # FLOPs per token and block
        branch = 2 * ANSWER_TOKENS  # both completions, side by side
        caches = (work.train_tokens + work.train_variant_items * branch) * per_token * (layer + 1)
        # the unsteered answers through every block; above block L one copy per vector x steered multiplier
        evaluation = (
            work.test_tokens * per_token * depth
            + work.test_variant_items * branch * per_token * depth
            + work.test_vector_variant_items * settings * branch * per_token * (depth - layer - 1)
        )
        sweep_items = work.sweep_train_items + work.sweep_test_items
        sweep = (
            work.sweep_tokens * per_token * depth
            + work.sweep_test_items
            * branch
            * per_token
            * sum(sweep_settings * (depth - block - 1) for block in range(depth))
            + sweep_items * branch * per_token * depth
        )
        hours = [flops / (arguments.tflops * 1e12) / 3600 for flops in (caches, evaluation, sweep)]
        bytes_per_value = BYTES[config["activations"]["dtype"]]
        cached_layers = depth if config["activations"]["layers"] == "all" else 1
        cache = work.train_variant_items * 2 * shape.hidden * bytes_per_value * cached_layers
        # letter activations of the test items (float32, steering layer) + the propensity tables (~30 bytes a row)
        outputs = work.test_variant_items * 2 * shape.hidden * 4 + work.test_vector_variant_items * (settings + 1) * 30
        kv = budget * depth * 2 * shape.kv_width * BYTES[entry["dtype"]]
        weights = shape.parameters * BYTES[entry["dtype"]]
        print(
            f"| {model} | {work.train_items:,} / {work.test_items:,} | {work.train_tokens / 1e6:.1f}M / "
            f"{work.test_tokens / 1e6:.1f}M | {cache / 1e9:.1f} GB | {outputs / 1e9:.1f} GB | "
            f"{(weights + kv) / 1e9:.0f} GB ({weights / 1e9:.0f} + {kv / 1e9:.0f}) | "
            f"{caches / 1e12:.0f} / {evaluation / 1e12:.0f} / {sweep / 1e12:.0f} | "
            f"{hours[0]:.2f} / {hours[1]:.2f} / {hours[2]:.2f} |"
        )


if __name__ == "__main__":
    main()
