"""The set-up shared by the workflow jobs that run the model: device, model, engine, encoded items, memory record."""

from __future__ import annotations

import contextlib
import logging
import resource
import time
from collections.abc import Iterator

import pandas as pd
import torch

from steering_reliability.data.prompts import EncodedItem, encode_rows
from steering_reliability.data.variants import BASELINE, persona_sentences, variant_prompt
from steering_reliability.model.devices import claim_gpu, resolve_device, weights_dtype
from steering_reliability.model.engine import SteeringEngine
from steering_reliability.model.models import load_model
from steering_reliability.run.artifacts import write_json


@contextlib.contextmanager
def model_job(snakemake) -> Iterator[tuple[SteeringEngine, object]]:
    """Load the job's model on its device and build its engine: yields (engine, tokenizer).

    A job that asked the scheduler for a GPU (its ``gpu`` resource) fails here, before any
    work, if torch cannot see one; on CUDA it claims a GPU of its own (``devices.claim_gpu``)
    and checks bfloat16 support. When the job ends, even by an error, its peak memory (GPU
    and host) goes to the rule's ``memory`` log, beside Snakemake's benchmark file.
    """
    params = snakemake.params.model
    name = snakemake.wildcards.model
    what = f"rule {snakemake.rule} for model {name}"
    device = resolve_device(params["device"], int(snakemake.resources.get("gpu", 0) or 0), what=what)
    if device.type == "cuda":
        device = claim_gpu(device, snakemake.config["models"][name].get("gpu_memory_gb"), what)
        torch.cuda.reset_peak_memory_stats(device)
    dtype = weights_dtype(device, params["dtype"], params["bf16_fallback"], what)
    budget = int(snakemake.resources.get("token_budget") or params["token_budget"])
    record = {"rule": snakemake.rule, "model": name, "device": str(device), "dtype": dtype, "token_budget": budget}
    record["datasets"] = list(getattr(snakemake.params, "datasets", None) or [])  # a job over a group of datasets
    record.update(batch_size=params["batch_size"], **_gpu_description(device))
    record["started"] = time.time()  # wall clock (when the GPU was claimed): which jobs shared the machine
    started = time.perf_counter()
    engine = None
    try:
        model, tokenizer = load_model(
            snakemake.input.model, dtype, params["trust_remote_code"], threads=snakemake.threads, device=device
        )
        logging.getLogger(snakemake.rule).info(
            "model on %s (%s weights%s), token budget %d, batch size %d",
            device,
            dtype,
            f", {record['gpu']}" if "gpu" in record else "",
            budget,
            params["batch_size"],
        )
        engine = SteeringEngine(model, budget, params["batch_size"], name=name)
        yield engine, tokenizer
    finally:
        record["seconds"] = round(time.perf_counter() - started, 1)
        record["ended"] = time.time()
        record["passes_split_after_out_of_memory"] = engine.splits if engine is not None else None
        record.update(_peak_memory(device))
        if getattr(snakemake.log, "memory", None):
            write_json(record, snakemake.log.memory)


def _gpu_description(device: torch.device) -> dict:
    if device.type != "cuda":
        return {}
    properties = torch.cuda.get_device_properties(device)
    return {
        "gpu": properties.name,
        "gpu_uuid": str(properties.uuid),
        "gpu_memory_bytes": properties.total_memory,
        "compute_capability": f"{properties.major}.{properties.minor}",
    }


def _peak_memory(device: torch.device) -> dict:
    # ru_maxrss is in kilobytes on Linux (the peak resident memory of this process: weights on the CPU included)
    peaks = {"host_peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
    if device.type == "cuda":
        peaks["gpu_peak_allocated_bytes"] = torch.cuda.max_memory_allocated(device)
        peaks["gpu_peak_reserved_bytes"] = torch.cuda.max_memory_reserved(device)
    return peaks


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


def encode_variants(snakemake, engine: SteeringEngine, tokenizer, rows: pd.DataFrame) -> dict[str, list[EncodedItem]]:
    """Every prompt variant of the job's items, encoded and checked by the engine before any compute."""
    encoded = {variant: encode_variant(snakemake, tokenizer, rows, variant) for variant in snakemake.params.variants}
    for items in encoded.values():
        engine.check_items(items)
    return encoded
