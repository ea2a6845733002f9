# Config validation and the config-derived lists and input functions that rules share.
from snakemake.utils import validate

from steering_reliability.config import check_config
from steering_reliability.items import dataset_kind_and_path, pinned_checksums

validate(config, schema="../schemas/config.schema.yaml")
check_config(config)

DATASETS = config["data"]["datasets"]
MODELS = list(config["models"])
# Prompt variants and vectors of the in-distribution study.
VARIANTS = ["baseline"]
VECTORS = ["baseline"]
FIGURES = {
    "fig1_steerability_distribution": "fig1_steerability_distribution.rst",
    "fig2_anti_steerable_fraction": "fig2_anti_steerable_fraction.rst",
    "fig3_variance_explained": "fig3_variance_explained.rst",
    "fig4_propensity_curves": "fig4_propensity_curves.rst",
}
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


def model_layer(wildcards):
    return config["models"][wildcards.model]["layer"]


def prompt_params(wildcards):
    entry = config["models"][wildcards.model]
    return {
        "system_prompt": config["prompt"]["system_prompt"],
        "system_mode": entry.get("system_prompt", "system"),
        "dtype": entry.get("dtype", "float32"),
        "trust_remote_code": entry.get("trust_remote_code", False),
    }


def per_dataset(pattern, **fixed):
    def inputs(wildcards):
        return expand(pattern, dataset=DATASETS, model=wildcards.model, **fixed)

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
    return (
        manifests
        + expand(
            "results/{model}/figures/{figure}.{ext}",
            model=MODELS,
            figure=FIGURES,
            ext=["png", "svg"],
        )
        + expand(
            "results/{model}/tables/{table}",
            model=MODELS,
            table=["steerability.csv", "items.parquet", "bias.csv"],
        )
    )
