# Config validation and the config-derived lists and input functions that rules share.
from snakemake.utils import validate

from steering_reliability.config import check_config
from steering_reliability.items import dataset_kind_and_path, pinned_checksums
from steering_reliability.sources import PERSONA_PROMPTS
from steering_reliability.variants import BASELINE, VARIANTS

validate(config, schema="../schemas/config.schema.yaml")
check_config(config)


def resolve_datasets(names):
    """A dataset list from config: a list of names (a subset of data.datasets) or "all"."""
    return list(config["data"]["datasets"]) if names == "all" else list(names)


DATASETS = config["data"]["datasets"]
MODELS = list(config["models"])
OOD_DATASETS = resolve_datasets(config.get("ood", {}).get("datasets", []))
SWEEP_DATASETS = resolve_datasets(config.get("sweep", {}).get("datasets", []))
PERSONAS = f"resources/raw/{PERSONA_PROMPTS}"


# What the jobs that run the model ask a cluster scheduler for (compute.model_job; the cluster
# profiles turn the GPU on). A `--config` override arrives as a string, hence the int().
def model_job_resources():
    entry = {
        "gpu": 0,
        "mem_mb": 8000,
        "runtime": 120,
        **config["compute"].get("model_job", {}),
    }
    resources = {
        key: int(value) if str(value).isdigit() else value
        for key, value in entry.items()
    }
    if not resources["gpu"]:
        # no gpu key at all: the Kubernetes executor treats any gpu key as a GPU request
        del resources["gpu"]
        resources.pop("gpu_manufacturer", None)
    return resources


MODEL_JOB = model_job_resources()
# Per-model figures (final targets); figure 7 compares models and exists with two or more.
FIGURES = [
    "fig1_steerability_distribution",
    "fig2_anti_steerable_fraction",
    "fig3_variance_explained",
    "fig4_propensity_curves",
    "figA2_multiplier_range",
]
if OOD_DATASETS:
    FIGURES += ["fig5_id_vs_ood", "fig6_relative_steerability"]
if SWEEP_DATASETS:
    FIGURES += ["figA1_layer_sweep"]
EXAMPLE_DATASET = config.get("figures", {}).get("example_dataset", DATASETS[0])


wildcard_constraints:
    model="[A-Za-z0-9._-]+",
    dataset="[A-Za-z0-9_-]+",
    variant="[A-Za-z_+-]+",
    vector="[A-Za-z_+-]+",


def raw_file(wildcards):
    return f"resources/raw/{dataset_kind_and_path(wildcards.dataset)[1]}"


def pinned_sha256(wildcards):
    return pinned_checksums()[wildcards.raw_path]


def model_entry(wildcards):
    return config["models"][wildcards.model]


def layer_file(wildcards):
    """The file holding the model's steering layer (from config, or picked by the sweep)."""
    return f"results/{wildcards.model}/layer.json"


def layer_choice_inputs(wildcards):
    """The layer sweep's table, needed only by models whose layer is `auto`."""
    if config["models"][wildcards.model]["layer"] == "auto":
        return [f"results/{wildcards.model}/tables/layer_sweep.csv"]
    return []


def variant_personas(wildcards):
    """The persona sentences, needed by every prompt variant except the baseline."""
    return [] if wildcards.variant == BASELINE else PERSONAS


def prompt_params(wildcards):
    entry = config["models"][wildcards.model]
    return {
        "system_prompt": config["prompt"]["system_prompt"],
        "system_mode": entry.get("system_prompt", "system"),
        "dtype": entry.get("dtype", "float32"),
        "trust_remote_code": entry.get("trust_remote_code", False),
    }


def per_dataset(pattern, ood=False, sweep=False, **fixed):
    """Input function: ``pattern`` for every dataset (of the OOD or sweep list if asked)."""
    datasets = OOD_DATASETS if ood else SWEEP_DATASETS if sweep else DATASETS

    def inputs(wildcards):
        return expand(pattern, dataset=datasets, model=wildcards.model, **fixed)

    return inputs


def model_targets(wildcards):
    """Everything the study makes for one model (the manifest rule runs after all of it)."""
    return [
        target
        for target in final_targets(with_manifest=False)
        if f"results/{wildcards.model}/" in target
    ]


def final_targets(with_manifest=True):
    manifests = (
        expand("results/{model}/manifest.json", model=MODELS) if with_manifest else []
    )
    comparison = (
        ["results/comparison/fig7_cross_model.png", "results/comparison/spearman.csv"]
        if len(MODELS) > 1
        else []
    )
    ood_tables = [
        "ood_steerability.csv",
        "ood_spearman.csv",
        "relative_steerability.csv",
    ]
    return (
        manifests
        + comparison
        + ["results/summary.csv", "results/summary.md"]
        + expand(
            "results/{model}/figures/{figure}.{ext}",
            model=MODELS,
            figure=FIGURES,
            ext=["png", "svg"],
        )
        + expand(
            "results/{model}/tables/{table}",
            model=MODELS,
            table=[
                "steerability.csv",
                "items.parquet",
                "bias.csv",
                "multiplier_range.csv",
            ]
            + (ood_tables if OOD_DATASETS else [])
            + (["layer_sweep.csv"] if SWEEP_DATASETS else []),
        )
    )
