import pandas as pd

from steering_reliability.analysis.layers import read_layer
from steering_reliability.analysis.steerability import item_slopes
from steering_reliability.data.items import selected
from steering_reliability.data.variants import BASELINE
from steering_reliability.model.evaluation import difference_cosines, propensity_table
from steering_reliability.model.model_jobs import encode_variants
from steering_reliability.model.vector_names import without_methods
from steering_reliability.run.artifacts import read_table, write_table
from steering_reliability.run.dataset_groups import run_datasets
from steering_reliability.run.scripting import tensor_metadata
from steering_reliability.run.tensors import load_tensors, save_tensors


def evaluate_steering(job, engine, tokenizer, log):
    dataset = job.wildcards.dataset
    test = selected(read_table(job.input.dataset), "test")
    stored = load_tensors(job.input.vectors)[0]
    layer = read_layer(job.input.layer)
    propensities, slopes, activations = [], [], {}
    for variant, items in encode_variants(job, engine, tokenizer, test).items():
        # the other methods' directions are compared on the baseline prompts, in the same pass as CAA's
        vectors = stored if variant == BASELINE else without_methods(stored)
        table, letter = propensity_table(engine, items, layer, vectors, job.params.multipliers)
        table.insert(0, "variant", variant)
        cosines = difference_cosines([item.item_id for item in items], letter, vectors)
        slopes.append(item_slopes(table, ["variant", "vector", "item_id"]).merge(cosines, on=["vector", "item_id"]))
        propensities.append(table)
        activations[f"{variant}.positive"], activations[f"{variant}.negative"] = letter[:, 0], letter[:, 1]
        log.info("%s: %d items x %d vectors", variant, len(items), len(vectors))
    factors = test[["item_id", "pair_id", "order", "positive_is_a", "positive_is_yes"]]
    slopes = pd.concat(slopes, ignore_index=True).merge(factors, on="item_id", how="left")
    propensities = pd.concat(propensities, ignore_index=True)
    for frame in (propensities, slopes):
        frame.insert(0, "dataset", dataset)
    write_table(propensities, job.output.propensities)
    write_table(slopes, job.output.slopes)
    save_tensors(
        job.output.activations,
        activations,
        tensor_metadata(job, split="test", layer=layer, item_ids=list(test["item_id"])),
    )


run_datasets(snakemake, evaluate_steering)
