"""The set-up shared by the workflow jobs that run the model: model, engine and encoded items."""

from __future__ import annotations

import pandas as pd

from steering_reliability.engine import SteeringEngine
from steering_reliability.items import selected
from steering_reliability.models import load_model
from steering_reliability.prompts import EncodedItem, encode_rows
from steering_reliability.variants import BASELINE, persona_sentences, variant_prompt


def job_engine(snakemake) -> tuple[SteeringEngine, object]:
    """Load the job's model and build its engine: (engine, tokenizer)."""
    prompt = snakemake.params.prompt
    model, tokenizer = load_model(
        snakemake.input.model, prompt["dtype"], prompt["trust_remote_code"], threads=snakemake.threads
    )
    return SteeringEngine(model, snakemake.params.token_budget), tokenizer


def encode_variant(snakemake, tokenizer, rows: pd.DataFrame, variant: str = BASELINE) -> list[EncodedItem]:
    """Encode ``rows`` with the prompt of ``variant`` (persona sentences from the job's ``personas`` input)."""
    prompt = snakemake.params.prompt
    if variant == BASELINE:
        rendered = variant_prompt(variant, prompt["system_prompt"], ("", ""))
    else:
        sentences = persona_sentences(snakemake.input.personas, snakemake.wildcards.dataset)
        rendered = variant_prompt(variant, prompt["system_prompt"], sentences)
    return encode_rows(tokenizer, rows, rendered.system_prompt, rendered.user_prefix, prompt["system_mode"])


def engine_and_items(
    snakemake, split: str, variant: str = BASELINE
) -> tuple[SteeringEngine, list[EncodedItem], pd.DataFrame]:
    """The job's engine and the selected items of ``split`` encoded with ``variant``'s prompt."""
    engine, tokenizer = job_engine(snakemake)
    rows = selected(pd.read_parquet(snakemake.input.dataset), split)
    return engine, encode_variant(snakemake, tokenizer, rows, variant), rows
