"""Sizing a study before it runs: accelerator memory per job type, work, disk and hours, per model.

**Memory is measured, not estimated.** For each model and each job type (cache_activations,
evaluate_steering, layer_sweep) the job's own computations (the package functions its script
calls) run with the engine on the model's real shapes on PyTorch's meta device
(``steering_reliability.model.fake_device``): every tensor the code allocates on the device is
counted while it lives, weights included, and the peak is what the job would allocate on a
GPU. The items are the study's real prompts, tokenised with the model's tokenizer (or a
stand-in, ``--tokenizer``); per job type the two (dataset, prompt variant) calls with the
longest prompts are run, on their longest items (enough for two full passes): at a fixed token
budget the longest prompts need the most memory (attention grows with the prompt length). A GPU
needs more than the peak allocation: the CUDA context and cuBLAS workspaces (about 0.5-1 GB)
and the caching allocator's fragmentation. A job is said to fit when
``peak x 1.10 + 1 GiB <= the GPU's memory`` (``HEADROOM``).

**Work and disk** are computed from the same prompts:
the matmul FLOPs the engine cannot avoid (every prompt token once through the blocks it needs,
the unsteered answers once, one copy of the answers per steering setting above the steering
layer, the sweep's copies above each layer; attention left out) at an assumed sustained
throughput (``--tflops``; replace it with what ``steering-reliability gpu-check`` measures on your
GPU), the activation caches and evaluation outputs on disk, and the weights.

**Model loads**: each model job loads its model once and covers ``compute.datasets_per_job``
datasets of its stage; a load is assumed to cost ``LOAD`` (start-up, CUDA initialisation and
imports, plus the weights read from the shared filesystem; the scheduler's queue wait left out).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from steering_reliability.analysis.layers import eligible_layers, sweep_rows
from steering_reliability.data.design import design_settings, study_table
from steering_reliability.data.items import dataset_kind_and_path, selected
from steering_reliability.data.personas import read_persona_prompts
from steering_reliability.data.prompts import encode_rows, render_prompt
from steering_reliability.data.sources import persona_prompts_file
from steering_reliability.data.study_datasets import needs_persona_file, ood_datasets, sweep_datasets
from steering_reliability.data.user_datasets import dataset_items, hub_record, raw_input, user_entries
from steering_reliability.data.variants import BASELINE, VARIANTS, variant_prompt
from steering_reliability.model.activations import letter_activations
from steering_reliability.model.engine import SteeringEngine, shared_prefix_length
from steering_reliability.model.evaluation import propensity_table
from steering_reliability.model.fake_device import FakeAccelerator, meta_model, resident_bytes
from steering_reliability.model.models import DTYPES, attention_implementation, bundled_config
from steering_reliability.model.sweep import layer_sweep
from steering_reliability.model.vector_names import evaluated_vectors
from steering_reliability.run.dataset_groups import stage_datasets, stage_groups

JOB_TYPES = ("cache_activations", "evaluate_steering", "layer_sweep")
GIB = 2**30
HEADROOM = (1.10, 1 * GIB)  # needed = peak allocated x 1.10 + 1 GiB (CUDA context, workspaces, fragmentation)
BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
MIN_BUDGET = 1024  # the smallest token budget the command tries
LOAD = (30.0, 1.0)  # one model load: 30 s of start-up, plus the weights read at 1 GB/s


def _gb(size: float) -> str:
    return f"{size / 1e9:.2f} GB" if size < 10e9 else f"{size / 1e9:.1f} GB"


def needed_bytes(peak: int) -> int:
    factor, fixed = HEADROOM
    return int(peak * factor + fixed)


# -- the study's items and prompts --------------------------------------------------


@dataclass
class Call:
    """One call of a job's computation: the items of one dataset under one prompt variant."""

    dataset: str
    variant: str
    rows: object  # the dataset table's rows
    vectors: int  # steering vectors evaluated on them (vector_names.evaluated_vectors)
    lengths: list[int] = field(default_factory=list)  # prompt tokens per row
    shared: int = 0  # tokens of the prefix every row shares (the engine computes it once)


def model_setting(config: dict, entry: dict, key: str):
    """A per-model compute setting (models.<name>.token_budget / batch_size), else the study's (compute.*)."""
    return entry.get(key) or config["compute"][key]


def study_tables(config: dict, raw: Path) -> dict:
    """Every dataset of the study (and of the sweep), split as the config says, from the raw files in ``raw``."""
    tables = {}
    users = user_entries(config)
    for name in sorted(set(config["data"]["datasets"]) | set(sweep_datasets(config))):
        path = Path(raw_input(name, users[name])) if name in users else raw / dataset_kind_and_path(name)[1]
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: raw file of dataset {name} not found; give --raw a copy of the raw files (the layout of "
                "data.mirror), or run the data rules first (snakemake --until build_dataset)"
            )
        record = hub_record(name) if name in users and not users[name].get("file") else None
        tables[name] = study_table(dataset_items(name, path, config, record), design_settings(config, name))
    return tables


def model_loads(config: dict) -> tuple[int, int]:
    """Model jobs (= model loads) per model: grouped by ``compute.datasets_per_job``, and at one dataset per job."""
    grouped = sum(len(jobs) for jobs in stage_groups(config).values())
    return grouped, sum(len(names) for names in stage_datasets(config).values())


def load_hours(plan) -> float:
    """What the model's loads cost over the study (``LOAD``)."""
    start_up, read_gbps = LOAD
    weights = plan.shape.parameters * BYTES[plan.entry["dtype"]]
    return plan.loads[0] * (start_up + weights / (read_gbps * 1e9)) / 3600


def job_calls(config: dict, tables: dict) -> dict[str, list[Call]]:
    """The calls each job type makes over the whole study (sweep calls: its train and test slices)."""
    ood = set(ood_datasets(config))
    calls = {job: [] for job in JOB_TYPES}
    for name in config["data"]["datasets"]:
        variants = VARIANTS if name in ood else [BASELINE]
        for variant in variants:
            calls["cache_activations"].append(Call(name, variant, selected(tables[name], "train"), 0))
            vectors = evaluated_vectors(config, name in ood, variant)
            calls["evaluate_steering"].append(Call(name, variant, selected(tables[name], "test"), vectors))
    for name in sweep_datasets(config):
        for key in ("train_percent", "test_percent"):
            rows = sweep_rows(tables[name], config["sweep"][key], config["sweep"]["max_items"])
            calls["layer_sweep"].append(Call(name, key, rows, 0))
    return calls


def _variant_prompt(config, personas, call: Call):
    variant = call.variant if call.variant in VARIANTS else BASELINE
    sentences = personas.get(call.dataset, ("", "")) if variant != BASELINE else ("", "")
    return variant_prompt(variant, config["prompt"]["system_prompt"], sentences)


def measure_lengths(config, entry, tokenizer, personas, calls: dict[str, list[Call]]) -> None:
    """Each call's prompt lengths in tokens (batch tokenisation: cheap for a whole study)."""
    for call in [call for job in calls.values() for call in job]:
        rendered = _variant_prompt(config, personas, call)
        texts = [
            render_prompt(
                tokenizer,
                question,
                rendered.system_prompt,
                rendered.user_prefix,
                entry["system_prompt"],
                entry["prompt_format"],
            )
            for question in call.rows["question"]
        ]
        prompts = tokenizer(texts, add_special_tokens=False)["input_ids"]
        call.lengths = [len(ids) for ids in prompts]
        call.shared = shared_prefix_length(prompts)


# -- memory -------------------------------------------------------------------------


def _longest_calls(calls: list[Call], count: int = 2) -> list[Call]:
    """Per number of vectors (ID or OOD evaluation), the ``count`` calls with the longest prompts."""
    chosen = []
    for vectors in sorted({call.vectors for call in calls}):
        group = [call for call in calls if call.vectors == vectors]
        chosen += sorted(group, key=lambda call: max(call.lengths), reverse=True)[:count]
    return chosen


def _longest_rows(call: Call, count: int):
    order = sorted(range(len(call.lengths)), key=lambda index: call.lengths[index], reverse=True)[:count]
    return call.rows.iloc[sorted(order)]


def job_peaks(
    config: dict, entry: dict, model, tokenizer, personas, calls: dict[str, list[Call]], layer: int, token_budget: int
) -> dict[str, int]:
    """Peak device bytes (weights included) of each job type at ``token_budget``, on the meta ``model``.

    Each chosen call runs on its two longest passes (the engine's own plan of its longest items).
    """
    batch_size = model_setting(config, entry, "batch_size")
    weights = resident_bytes(model)
    hidden = model.config.get_text_config().hidden_size
    multipliers = config["steering"]["multipliers"]
    steered = sum(1 for multiplier in multipliers if multiplier != 0)
    engine = SteeringEngine(model, token_budget, batch_size)
    layers = list(range(engine.num_layers))
    sweep_settings = len(layers) * len(config["sweep"]["multipliers"])

    def longest_passes(call: Call, settings: int):
        rendered = _variant_prompt(config, personas, call)
        items = encode_rows(
            tokenizer,
            _longest_rows(call, 4 * batch_size),
            rendered.system_prompt,
            rendered.user_prefix,
            entry["system_prompt"],
            entry["prompt_format"],
        )
        passes = engine.passes(items, settings)
        return [items[index] for batch in passes[-2:] for index in batch]

    peaks = {}
    for job in JOB_TYPES:
        if not calls[job]:
            continue
        with FakeAccelerator(weights) as fake:
            if job == "layer_sweep":  # the sweep job: every layer's activations, then every layer's vector
                dataset = _longest_calls(calls[job], 1)[0].dataset
                train, test = (call for call in calls[job] if call.dataset == dataset)
                activations = letter_activations(engine, longest_passes(train, 0), layers)
                test_items = longest_passes(test, sweep_settings)
                layer_sweep(engine, activations, test_items, layers, config["sweep"]["multipliers"])
            for call in _longest_calls(calls[job]) if job != "layer_sweep" else []:
                if job == "cache_activations":
                    letter_activations(engine, longest_passes(call, 0), [layer])
                else:
                    vectors = {f"v{index}": torch.zeros(hidden) for index in range(call.vectors)}
                    propensity_table(engine, longest_passes(call, call.vectors * steered), layer, vectors, multipliers)
        peaks[job] = fake.peak
    return peaks


# -- work and disk --------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    layers: int
    hidden: int
    kv_width: int  # key/value heads x head dimension
    parameters: int  # all weights
    non_embedding: int  # weights used per token in the matmuls


def model_shape(model) -> Shape:
    config = model.config.get_text_config()
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    parameters = sum(parameter.numel() for parameter in model.parameters())
    embeddings = config.vocab_size * config.hidden_size * (1 if config.tie_word_embeddings else 2)
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    return Shape(config.num_hidden_layers, config.hidden_size, kv_heads * head_dim, parameters, parameters - embeddings)


ANSWER_TOKENS = 3  # "(", "A", ")": the branch is the last prompt token + 2 fed tokens per completion


def work(config: dict, calls: dict[str, list[Call]], shape: Shape, layer: int) -> dict[str, float]:
    """Minimum matmul FLOPs per job type, and the disk of the activation caches and evaluation outputs."""
    per_token = 2 * shape.non_embedding / shape.layers  # FLOPs per token and block
    branch = 2 * ANSWER_TOKENS  # both completions, side by side
    depth = shape.layers
    steered = len(config["steering"]["multipliers"]) - 1
    sweep_settings = len(config["sweep"]["multipliers"])

    def tokens(call: Call) -> int:  # the prefix every item shares is computed once per call
        return sum(call.lengths) - (len(call.lengths) - 1) * call.shared

    cache_calls, eval_calls, sweep_calls = (calls[job] for job in JOB_TYPES)
    caches = sum((tokens(c) + len(c.lengths) * branch) * per_token * (layer + 1) for c in cache_calls)
    evaluation = sum(
        tokens(c) * per_token * depth
        + len(c.lengths) * branch * per_token * depth
        + len(c.lengths) * c.vectors * steered * branch * per_token * (depth - layer - 1)
        for c in eval_calls
    )
    sweep_test = [c for c in sweep_calls if c.variant == "test_percent"]
    sweep = sum(tokens(c) * per_token * depth + len(c.lengths) * branch * per_token * depth for c in sweep_calls) + sum(
        len(c.lengths) * branch * per_token * sum(sweep_settings * (depth - block - 1) for block in range(depth))
        for c in sweep_test
    )
    cached_layers = depth if config["activations"]["layers"] == "all" else 1
    cache_disk = sum(len(c.lengths) for c in cache_calls) * 2 * shape.hidden * BYTES[config["activations"]["dtype"]]
    outputs = sum(len(c.lengths) * (2 * shape.hidden * 4 + c.vectors * (steered + 1) * 30) for c in eval_calls)
    return {
        "cache_activations": caches,
        "evaluate_steering": evaluation,
        "layer_sweep": sweep,
        "cache_disk": cache_disk * cached_layers,
        "output_disk": outputs,
    }


# -- models ---------------------------------------------------------------------------


def model_config(name: str, entry: dict, models_dir: Path):
    """The transformers config of a model: its prepared copy, else the bundled one of a known hub id."""
    from transformers import AutoConfig

    record = models_dir / name / "model.json"
    if record.is_file():
        return AutoConfig.from_pretrained(json.loads(record.read_text())["path"])
    bundled = bundled_config(entry["id"])
    if bundled is None:
        raise FileNotFoundError(
            f"models.{name}: no prepared model ({record}) and no bundled config for {entry['id']}: prepare it first "
            f"(snakemake {record})"
        )
    return bundled


def model_tokenizer(name: str, models_dir: Path, stand_in: str | None):
    from transformers import AutoTokenizer

    record = models_dir / name / "model.json"
    if record.is_file():
        return AutoTokenizer.from_pretrained(json.loads(record.read_text())["path"]), "own"
    if stand_in is None:
        raise FileNotFoundError(
            f"models.{name}: its tokenizer is not prepared ({record}); give --tokenizer (a tokenizer directory, e.g. "
            "resources/models/qwen2.5-coder-0.5b-instruct/transformers) to stand in for it"
        )
    return AutoTokenizer.from_pretrained(stand_in), f"stand-in {stand_in}"


def steering_layer(name: str, entry: dict, results: Path, layers: int, config: dict) -> tuple[int, str]:
    if entry["layer"] != "auto":
        return int(entry["layer"]), "config"
    chosen = results / name / "layer.json"
    if chosen.is_file():
        return int(json.loads(chosen.read_text())["layer"]), "sweep"
    return eligible_layers(layers, config["sweep"]["auto_depth"])[0], "auto, not yet chosen: the lowest eligible"


@dataclass
class ModelPlan:
    """A model of a study, ready to size: its meta-device model, its prompts' lengths per call, its work."""

    name: str
    entry: dict
    model: object  # on the meta device
    attention: str
    shape: Shape
    tokenizer: object
    tokenizer_source: str
    layer: int
    layer_source: str
    calls: dict[str, list[Call]]
    personas: dict
    work: dict[str, float]
    loads: tuple[int, int]  # model jobs (= model loads) as grouped by the config, and at one dataset per job

    @property
    def items(self) -> dict[str, int]:
        """Prompts per job type (items x prompt variants)."""
        return {job: sum(len(call.lengths) for call in self.calls[job]) for job in JOB_TYPES}

    @property
    def tokens(self) -> dict[str, int]:
        return {job: sum(sum(call.lengths) for call in self.calls[job]) for job in JOB_TYPES}


def plan_model(
    config: dict, name: str, raw_tables: dict, personas: dict, models_dir: Path, results: Path, stand_in: str | None
) -> ModelPlan:
    entry = config["models"][name]
    transformers_config = model_config(name, entry, models_dir)
    attention = attention_implementation(transformers_config, entry.get("attention", "auto"))
    model = meta_model(transformers_config, DTYPES[entry["dtype"]], attention)
    shape = model_shape(model)
    tokenizer, tokenizer_source = model_tokenizer(name, models_dir, stand_in)
    layer, layer_source = steering_layer(name, entry, results, shape.layers, config)
    calls = job_calls(config, raw_tables)
    measure_lengths(config, entry, tokenizer, personas, calls)
    loads = model_loads(config)
    return ModelPlan(
        name,
        entry,
        model,
        attention,
        shape,
        tokenizer,
        tokenizer_source,
        layer,
        layer_source,
        calls,
        personas,
        work(config, calls, shape, layer),
        loads,
    )


@dataclass
class ModelSizing:
    plan: ModelPlan
    token_budget: int
    peaks: dict[int, dict[str, int]]  # token budget -> job type -> bytes


def size_model(config: dict, plan: ModelPlan, gpu_sizes: list[float], budgets: list[int] | None = None) -> ModelSizing:
    """Measure a planned model's peak memory per job type at its token budget (and halvings, or ``budgets``)."""
    token_budget = model_setting(config, plan.entry, "token_budget")

    def peaks_at(budget: int) -> dict[str, int]:
        return job_peaks(config, plan.entry, plan.model, plan.tokenizer, plan.personas, plan.calls, plan.layer, budget)

    if budgets:  # the configured budget and the ones asked for
        peaks = {budget: peaks_at(budget) for budget in sorted({token_budget, *budgets}, reverse=True)}
    else:  # the configured budget, halved while the smallest GPU asked about is too small (at most 3 times)
        peaks, budget = {}, token_budget
        while True:
            peaks[budget] = peaks_at(budget)
            fits = needed_bytes(max(peaks[budget].values())) <= min(gpu_sizes) * 1e9
            if fits or len(peaks) > 3 or budget // 2 < MIN_BUDGET:
                break
            budget //= 2
    return ModelSizing(plan, token_budget, peaks)


def fitting_budget(sizing: ModelSizing, gpu_bytes: int) -> int | None:
    """The largest measured token budget whose every job fits ``gpu_bytes``, or None."""
    for budget in sorted(sizing.peaks, reverse=True):
        if needed_bytes(max(sizing.peaks[budget].values())) <= gpu_bytes:
            return budget
    return None


def raw_folder(config: dict, given: str | None) -> Path:
    return Path(given or config["data"]["mirror"] or "resources/raw")


def persona_table(config: dict, raw: Path) -> dict:
    """The OOD study's persona sentences: the paper's (from the raw files) and the user's own datasets'."""
    table = read_persona_prompts(raw / persona_prompts_file(raw)) if needs_persona_file(config) else {}
    for name, entry in user_entries(config).items():
        if entry["persona"] is not None:
            table[name] = (entry["persona"]["positive"], entry["persona"]["negative"])
    return table


def work_lines(plans: list[ModelPlan], tflops: float | dict[str, float]) -> list[str]:
    """The work and disk table (markdown): minimum FLOPs per job type and the hours they take at ``tflops``
    (one rate, or a rate per model name)."""
    rates = tflops if isinstance(tflops, dict) else {plan.name: tflops for plan in plans}
    rate_text = f"{tflops:g} TFLOP/s" if not isinstance(tflops, dict) else "each model's measured TFLOP/s"
    lines = [
        f"Work and disk (matmul FLOPs the engine cannot avoid; hours at {rate_text} sustained; "
        "prompts = items x prompt variants; model jobs = model loads, grouped by compute.datasets_per_job "
        f"(at one dataset per job); a load assumed {LOAD[0]:g} s + the weights at {LOAD[1]:g} GB/s):",
        "",
        "| model | prompts train/test/sweep | prompt tokens train/test | TFLOP caches / evaluation / sweep | "
        "GPU-hours | activation cache | evaluation outputs | weights | model jobs | load GPU-hours |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for plan in [plan for plan in plans if plan.name in rates]:
        flops = [plan.work[job] for job in JOB_TYPES]
        hours = [value / (rates[plan.name] * 1e12) / 3600 for value in flops]
        prompts = " / ".join(f"{plan.items[job]:,}" for job in JOB_TYPES)
        tokens = " / ".join(f"{plan.tokens[job] / 1e6:.1f}M" for job in JOB_TYPES[:2])
        teraflops = " / ".join(f"{value / 1e12:,.0f}" for value in flops)
        weights = plan.shape.parameters * BYTES[plan.entry["dtype"]]
        lines.append(
            f"| {plan.name} | {prompts} | {tokens} | {teraflops} | {sum(hours):.3g} "
            f"({' / '.join(f'{h:.3g}' for h in hours)}) | {_gb(plan.work['cache_disk'])} | "
            f"{_gb(plan.work['output_disk'])} | {_gb(weights)} | {plan.loads[0]} ({plan.loads[1]}) | "
            f"{load_hours(plan):.2g} |"
        )
    return lines


def memory_lines(sizings: list[ModelSizing], gpu_sizes: list[float]) -> list[str]:
    """The memory table and the verdict per GPU size (markdown)."""
    factor, fixed = HEADROOM
    lines = [
        f"Accelerator memory per job, measured on the meta device (weights included; needed = peak x {factor:.2f} + "
        f"{fixed / GIB:.0f} GiB):",
        "",
        "| model | token budget | weights | cache_activations | evaluate_steering | layer_sweep | needed | "
        + " | ".join(f"{size:g} GB GPU" for size in gpu_sizes)
        + " |",
        "|---|---|---|---|---|---|---|" + "---|" * len(gpu_sizes),
    ]
    for sizing in sizings:
        plan = sizing.plan
        weights = plan.shape.parameters * BYTES[plan.entry["dtype"]]
        for budget in sorted(sizing.peaks, reverse=True):
            peaks = sizing.peaks[budget]
            needed = needed_bytes(max(peaks.values()))
            marker = " (configured)" if budget == sizing.token_budget else ""
            cells = " | ".join(_gb(peaks[job]) if job in peaks else "-" for job in JOB_TYPES)
            fits = " | ".join("fits" if needed <= size * 1e9 else "no" for size in gpu_sizes)
            lines.append(f"| {plan.name} | {budget}{marker} | {_gb(weights)} | {cells} | {_gb(needed)} | {fits} |")
    lines += ["", "Verdict per GPU size:", ""]
    for sizing in sizings:
        name, configured = sizing.plan.name, sizing.token_budget
        for size in gpu_sizes:
            budget = fitting_budget(sizing, int(size * 1e9))
            if budget is not None and budget >= configured:
                verdict = f"fits at its token budget {configured}"
            elif budget is None:
                verdict = f"does NOT fit, even at token budget {min(sizing.peaks)}: use a larger GPU"
            else:
                verdict = f"does not fit at {configured}: set models.{name}.token_budget: {budget} (fits)"
            lines.append(f"- {name} on a {size:g} GB GPU: {verdict}")
    return lines


def model_lines(plans: list[ModelPlan]) -> list[str]:
    return [
        f"{plan.name}: {plan.shape.parameters / 1e9:.2f}B parameters, {plan.entry['dtype']}, attention "
        f"{plan.attention}, layer {plan.layer} ({plan.layer_source}), tokenizer {plan.tokenizer_source}"
        for plan in plans
    ]


def report_lines(sizings: list[ModelSizing], gpu_sizes: list[float], tflops: float) -> list[str]:
    """The sizing tables (markdown)."""
    plans = [sizing.plan for sizing in sizings]
    return work_lines(plans, tflops) + [""] + memory_lines(sizings, gpu_sizes) + [""] + model_lines(plans)
