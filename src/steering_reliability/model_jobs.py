"""The set-up shared by the workflow jobs that run the model: model, engine and encoded items."""

from __future__ import annotations

import pandas as pd

from steering_reliability.engine import SteeringEngine
from steering_reliability.items import selected
from steering_reliability.models import load_model
from steering_reliability.prompts import EncodedItem, encode_rows


def engine_and_items(snakemake, split: str) -> tuple[SteeringEngine, list[EncodedItem], pd.DataFrame]:
    """Load the job's model, build its engine, and encode the selected items of ``split``."""
    prompt = snakemake.params.prompt
    model, tokenizer = load_model(
        snakemake.input.model, prompt["dtype"], prompt["trust_remote_code"], threads=snakemake.threads
    )
    rows = selected(pd.read_parquet(snakemake.input.dataset), split)
    items = encode_rows(tokenizer, rows, prompt["system_prompt"], system_mode=prompt["system_mode"])
    return SteeringEngine(model, snakemake.params.token_budget), items, rows
