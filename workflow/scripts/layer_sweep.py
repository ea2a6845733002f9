import pandas as pd

from steering_reliability.activations import letter_activations
from steering_reliability.artifacts import write_table
from steering_reliability.model_jobs import encode_variant, job_engine
from steering_reliability.scripting import script_context, tensor_metadata
from steering_reliability.sweep import layer_sweep, sweep_rows
from steering_reliability.tensors import save_tensors

with script_context(snakemake) as log:
    settings = snakemake.params.sweep
    dataset = snakemake.wildcards.dataset
    engine, tokenizer = job_engine(snakemake)
    table = pd.read_parquet(snakemake.input.dataset)
    train, test = (
        sweep_rows(table, split, settings["fraction"], settings.get("max_items")) for split in ("train", "test")
    )
    log.info("%s: %d train and %d test items of %d", dataset, len(train), len(test), len(table))
    activations = letter_activations(
        engine, encode_variant(snakemake, tokenizer, train), f"{dataset} sweep activations"
    )
    save_tensors(
        snakemake.output.activations,
        activations,
        tensor_metadata(snakemake, split="sweep train", num_layers=engine.num_layers, item_ids=list(train["item_id"])),
    )
    sweep = layer_sweep(
        engine,
        activations,
        encode_variant(snakemake, tokenizer, test),
        list(range(engine.num_layers)),
        settings["multipliers"],
        f"{dataset} layer sweep",
    )
    sweep.insert(0, "dataset", dataset)
    write_table(sweep, snakemake.output.propensities)
