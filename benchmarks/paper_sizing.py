"""Sizing of the paper-scale study (config/paper.yaml): disk, GPU memory and GPU-hours per stage.

Computed, not measured (no GPU here), from:

* the items: every dataset's raw file (a full local copy, ``--mirror``), split as the config says;
* the tokens: each item's prompt under each of the five prompt variants, tokenised with
  ``--tokenizer`` (here Qwen2.5's BPE as a stand-in: Llama-2's SentencePiece tokenizer writes
  roughly 10-20% more tokens for English text, Gemma's about as many); the prefix every item of
  a dataset shares is counted once per dataset, as the engine computes it;
* the models' public shapes (layers, hidden size, key/value width, non-embedding parameters);
* FLOPs = 2 x non-embedding parameters per token and layer fraction (matmuls only): the prompt
  once, the answer tokens below the steering layer once, and one copy per steering setting above
  it (the engine's minimum; attention and the few logits are left out);
* an assumed sustained throughput (``--tflops``, default 100 TFLOP/s: about a third of an A100's
  bf16 peak, for batches of short sequences), to be replaced by what the jobs' benchmark files
  (logs/{model}/benchmarks/) record on your GPUs.

    python benchmarks/paper_sizing.py --mirror ../shared/datasets \
        --tokenizer resources/models/qwen2.5-coder-0.5b-instruct/transformers
"""

from __future__ import annotations

import argparse
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
from steering_reliability.variants import VARIANTS, variant_prompt

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


def workload(config, tokenizer, mirror: Path, personas, prompt_format) -> Workload:
    work = Workload()
    system = config["prompt"]["system_prompt"]
    split = config["data"]["split"]
    tables = {}
    for name in sorted(set(config["data"]["datasets"]) | set(config["sweep"]["datasets"])):
        items = load_items(name, mirror / dataset_kind_and_path(name)[1])
        tables[name] = split_items(items, config["data"]["seed"], split, config["data"]["max_items"])
    for name in config["data"]["datasets"]:
        train, test = selected(tables[name], "train"), selected(tables[name], "test")
        work.train_items += len(train)
        work.test_items += len(test)
        for variant in VARIANTS:
            work.train_tokens += prompt_tokens(
                tokenizer, train["question"], system, personas[name], variant, prompt_format
            )
            work.test_tokens += prompt_tokens(
                tokenizer, test["question"], system, personas[name], variant, prompt_format
            )
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
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--tflops", type=float, default=100.0, help="assumed sustained TFLOP/s per GPU")
    arguments = parser.parse_args()
    config = yaml.safe_load(Path(arguments.config).read_text())
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"), set_default=True)
    resolve_protocol(config)
    tokenizer = AutoTokenizer.from_pretrained(arguments.tokenizer)
    mirror = Path(arguments.mirror)
    personas = read_persona_prompts(mirror / persona_prompts_file(mirror))
    settings = len(config["steering"]["multipliers"]) - 1  # steered multipliers per vector (0 is the unsteered run)
    sweep_settings = len(config["sweep"]["multipliers"])
    budget = config["compute"]["token_budget"]
    print(
        "| model | items train/test | prompt tokens train/test | activation cache | evaluation outputs | "
        "GPU memory: weights + KV at the token budget | GPU-hours: caches / evaluation / layer sweep |"
    )
    print("|---|---|---|---|---|---|---|")
    for model, entry in config["models"].items():
        shape = SHAPES[model]
        work = workload(config, tokenizer, mirror, personas, entry["prompt_format"])
        layer, depth = entry["layer"], shape.layers
        per_token = 2 * shape.non_embedding / depth  # FLOPs per token and block
        branch = 2 * ANSWER_TOKENS  # both completions, side by side
        caches = (work.train_tokens + work.train_items * 5 * branch) * per_token * (layer + 1)
        copies = 6 * settings  # six vectors x the steered multipliers, fanned out after block L
        evaluation = work.test_tokens * per_token * depth + work.test_items * 5 * branch * per_token * (
            (layer + 1) + copies * (depth - layer - 1)
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
        bytes_per_value = {"float32": 4, "float16": 2, "bfloat16": 2}[config["activations"]["dtype"]]
        cached_layers = depth if config["activations"]["layers"] == "all" else 1
        cache = work.train_items * 5 * 2 * shape.hidden * bytes_per_value * cached_layers
        # letter activations of the test items (float32, steering layer) + the propensity tables (~30 bytes a row)
        outputs = work.test_items * 5 * 2 * shape.hidden * 4 + work.test_items * 5 * 6 * (settings + 1) * 30
        kv = budget * depth * 2 * shape.kv_width * 2
        weights = shape.parameters * 2
        print(
            f"| {model} | {work.train_items:,} / {work.test_items:,} | {work.train_tokens / 1e6:.1f}M / "
            f"{work.test_tokens / 1e6:.1f}M | {cache / 1e9:.1f} GB | {outputs / 1e9:.1f} GB | "
            f"{(weights + kv) / 1e9:.0f} GB ({weights / 1e9:.0f} + {kv / 1e9:.0f}) | "
            f"{hours[0]:.2f} / {hours[1]:.2f} / {hours[2]:.2f} |"
        )


if __name__ == "__main__":
    main()
