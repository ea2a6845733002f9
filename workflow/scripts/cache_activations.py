from steering_reliability.activations import letter_activations
from steering_reliability.model_jobs import engine_and_items
from steering_reliability.scripting import script_context, tensor_metadata
from steering_reliability.tensors import save_tensors

with script_context(snakemake) as log:
    engine, items, _ = engine_and_items(snakemake, "train", snakemake.wildcards.variant)
    tensors = letter_activations(engine, items, f"{snakemake.wildcards.dataset} activations")
    save_tensors(
        snakemake.output[0],
        tensors,
        tensor_metadata(
            snakemake,
            split="train",
            variant=snakemake.wildcards.variant,
            num_layers=engine.num_layers,
            item_ids=[item.item_id for item in items],
        ),
    )
