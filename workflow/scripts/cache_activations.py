import pandas as pd

from steering_reliability.activations import letter_activations
from steering_reliability.engine import SteeringEngine
from steering_reliability.items import selected
from steering_reliability.models import load_model
from steering_reliability.prompts import encode_rows
from steering_reliability.scripting import provenance, script_context
from steering_reliability.tensors import save_tensors

with script_context(snakemake) as log:
    prompt = snakemake.params.prompt
    model, tokenizer = load_model(
        snakemake.input.model, prompt["dtype"], prompt["trust_remote_code"], threads=snakemake.threads
    )
    train = selected(pd.read_parquet(snakemake.input.dataset), "train")
    items = encode_rows(tokenizer, train, prompt["system_prompt"], system_mode=prompt["system_mode"])
    engine = SteeringEngine(model, snakemake.params.token_budget)
    tensors = letter_activations(engine, items, f"{snakemake.wildcards.dataset} activations")
    save_tensors(
        snakemake.output[0],
        tensors,
        provenance(
            snakemake,
            split="train",
            num_layers=engine.num_layers,
            item_ids=[item.item_id for item in items],
        ),
    )
