from steering_reliability.analysis.layers import eligible_layers
from steering_reliability.model.activations import letter_activations
from steering_reliability.model.model_jobs import encode_variant
from steering_reliability.model.sweep import layer_sweep, sweep_rows
from steering_reliability.run.artifacts import read_table, write_table
from steering_reliability.run.dataset_groups import run_datasets
from steering_reliability.run.scripting import tensor_metadata
from steering_reliability.run.tensors import save_tensors


def sweep(job, engine, tokenizer, log):
    settings = job.params.sweep
    dataset = job.wildcards.dataset
    table = read_table(job.input.dataset)
    train, test = (sweep_rows(table, settings[key], settings["max_items"]) for key in ("train_percent", "test_percent"))
    log.info("%s: %d train and %d test items of %d", dataset, len(train), len(test), len(table))
    train_items, test_items = (encode_variant(job, tokenizer, rows) for rows in (train, test))
    engine.check_items(train_items + test_items)
    if job.config["models"][job.wildcards.model]["layer"] == "auto":  # a range with no layer: refused before the sweep
        eligible_layers(engine.num_layers, settings["auto_depth"])
    layers = list(range(engine.num_layers))
    activations = letter_activations(engine, train_items, layers)
    save_tensors(
        job.output.activations,
        activations,
        tensor_metadata(job, split="sweep train", layers=layers, item_ids=list(train["item_id"])),
    )
    results = layer_sweep(engine, activations, test_items, layers, settings["multipliers"])
    results.insert(0, "dataset", dataset)
    results = results.merge(test[["item_id", "pair_id", "order", "positive_is_a"]], on="item_id", how="left")
    write_table(results, job.output.propensities)


run_datasets(snakemake, sweep)
