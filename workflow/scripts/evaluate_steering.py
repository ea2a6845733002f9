import pandas as pd

from steering_reliability.artifacts import write_table
from steering_reliability.engine import SteeringEngine
from steering_reliability.evaluation import propensity_table
from steering_reliability.items import selected
from steering_reliability.models import load_model
from steering_reliability.prompts import encode_rows
from steering_reliability.scripting import script_context
from steering_reliability.steerability import item_slopes
from steering_reliability.tensors import load_tensors

with script_context(snakemake) as log:
    prompt = snakemake.params.prompt
    model, tokenizer = load_model(
        snakemake.input.model, prompt["dtype"], prompt["trust_remote_code"], threads=snakemake.threads
    )
    test = selected(pd.read_parquet(snakemake.input.dataset), "test")
    items = encode_rows(tokenizer, test, prompt["system_prompt"], system_mode=prompt["system_mode"])
    vector = load_tensors(snakemake.input.vector)[0]["vector"]
    engine = SteeringEngine(model, snakemake.params.token_budget)
    propensities = propensity_table(
        engine,
        items,
        snakemake.params.layer,
        vector,
        snakemake.params.multipliers,
        f"{snakemake.wildcards.dataset} steering",
    )
    factors = test[["item_id", "positive_is_a", "positive_is_yes"]]
    slopes = item_slopes(propensities, ["item_id"]).merge(factors, on="item_id")
    slopes.insert(0, "dataset", snakemake.wildcards.dataset)
    write_table(propensities, snakemake.output.propensities)
    write_table(slopes, snakemake.output.slopes)
