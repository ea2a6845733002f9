"""The set-up shared by the workflow jobs that run the model: device, model, engine and encoded items."""

from __future__ import annotations

import logging

import pandas as pd

from steering_reliability.devices import resolve_device
from steering_reliability.engine import SteeringEngine
from steering_reliability.models import load_model
from steering_reliability.prompts import EncodedItem, encode_rows
from steering_reliability.variants import BASELINE, persona_sentences, variant_prompt


def job_engine(snakemake) -> tuple[SteeringEngine, object]:
    """Load the job's model on its device and build its engine: (engine, tokenizer).

    A job that asked the scheduler for a GPU (its ``gpu`` resource) fails here, before
    any work, if torch cannot see one.
    """
    params = snakemake.params.model
    device = resolve_device(
        params["device"],
        int(snakemake.resources.get("gpu", 0) or 0),
        what=f"rule {snakemake.rule} for model {snakemake.wildcards.model}",
    )
    model, tokenizer = load_model(
        snakemake.input.model, params["dtype"], params["trust_remote_code"], threads=snakemake.threads, device=device
    )
    logging.getLogger(snakemake.rule).info("model on %s (%s weights)", device, params["dtype"])
    return SteeringEngine(model, params["token_budget"], params["batch_size"]), tokenizer


def encode_variant(snakemake, tokenizer, rows: pd.DataFrame, variant: str = BASELINE) -> list[EncodedItem]:
    """Encode ``rows`` with the prompt of ``variant`` (persona sentences from the job's ``personas`` input)."""
    params = snakemake.params.model
    sentences = (
        ("", "") if variant == BASELINE else persona_sentences(snakemake.input.personas, snakemake.wildcards.dataset)
    )
    rendered = variant_prompt(variant, params["system_prompt"], sentences)
    return encode_rows(
        tokenizer, rows, rendered.system_prompt, rendered.user_prefix, params["system_mode"], params["prompt_format"]
    )
