from steering_reliability.analysis.layers import read_layer
from steering_reliability.data.items import selected
from steering_reliability.model.activations import STORAGE_DTYPES, letter_activations
from steering_reliability.model.model_jobs import encode_variants
from steering_reliability.run.artifacts import read_table
from steering_reliability.run.dataset_groups import run_datasets
from steering_reliability.run.scripting import tensor_metadata
from steering_reliability.run.tensors import activation_name, save_tensors


def cache_activations(job, engine, tokenizer, log):
    rows = selected(read_table(job.input.dataset), "train")
    settings = job.params.activations
    layers = list(range(engine.num_layers)) if settings["layers"] == "all" else [read_layer(job.input.layer)]
    tensors = {}
    for variant, items in encode_variants(job, engine, tokenizer, rows).items():
        recorded = letter_activations(engine, items, layers)
        for polarity, values in recorded.items():
            tensors[activation_name(variant, polarity)] = values.to(STORAGE_DTYPES[settings["dtype"]])
        log.info("%s: %d items at layers %s", variant, len(rows), layers if len(layers) < 5 else "all")
    save_tensors(
        job.output[0],
        tensors,
        tensor_metadata(
            job,
            split="train",
            variants=job.params.variants,
            layers=layers,
            num_layers=engine.num_layers,
            item_ids=list(rows["item_id"]),
        ),
    )


run_datasets(snakemake, cache_activations)
