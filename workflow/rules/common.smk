# Config validation and the config-derived lists and input functions that rules share.
from pathlib import Path

from snakemake.utils import validate

from steering_reliability.run.code_version import code_version as package_code_version
from steering_reliability.run.config import ConfigError, check_config, check_hub_cache
from steering_reliability.run.dataset_groups import STAGE_RULES, stage_groups
from steering_reliability.data.design import design_settings
from steering_reliability.data.items import dataset_kind_and_path, pinned_checksums
from steering_reliability.run.job_resources import (
    PASS_THROUGH,
    RESOURCE_NAMES,
    model_job_resources,
)
from steering_reliability.data.sources import persona_prompts_file
from steering_reliability.data.study_datasets import (
    needs_persona_file,
    ood_datasets,
    sweep_datasets,
)
from steering_reliability.data.user_datasets import hub_record, raw_input, user_entries
from steering_reliability.data.variants import BASELINE, VARIANTS

if not config:
    raise ConfigError(
        "the config is empty (config files read: "
        f"{', '.join(str(path) for path in workflow.configfiles) or 'none'}); "
        "a study needs at least data and models (see config/README.md)"
    )
# Fills in every default from the schema: rules read config keys directly.
validate(config, schema="../schemas/config.schema.yaml")
# a job on a node without the user's own dataset files (Kubernetes) does not read them again
check_config(config, read_user_files=not workflow.remote_exec)
# without a shared filesystem (a default storage provider), hub weights need a volume every job mounts
check_hub_cache(config, not workflow.storage_settings.default_storage_provider)


DATASETS = config["data"]["datasets"]
USER_DATASETS = user_entries(config)
MODELS = list(config["models"])
OOD_DATASETS = ood_datasets(config)
SWEEP_DATASETS = sweep_datasets(config)
# vector methods other than CAA (and nulls) to compare (vectors.methods)
OTHER_METHODS = [method for method in config["vectors"]["methods"] if method != "caa"]
# ... and those whose OOD vectors are evaluated on every prompt variant (ood.methods)
OOD_OTHER_METHODS = [method for method in config["ood"]["methods"] if method != "caa"]
PERSONAS = "results/datasets/persona_sentences.json"
# the paper's persona sentences, read only when a built-in dataset is in the OOD study
PERSONAS_RAW = (
    [f"resources/raw/{persona_prompts_file(config['data']['mirror'])}"]
    if needs_persona_file(config)
    else []
)
EXAMPLE_DATASET = config["figures"]["example_dataset"] or DATASETS[0]
# Per-model figures (final targets); figure 7 compares models and exists with two or more.
FIGURES = [
    "fig1_steerability_distribution",
    "fig2_anti_steerable_fraction",
    "fig3_variance_explained",
    "fig4_propensity_curves",
    "fig8_geometry",
    "figA2_multiplier_range",
]
if OOD_DATASETS:
    FIGURES += [
        "fig5_id_vs_ood",
        "fig6_relative_steerability",
        "fig9_ood_vector_cosines",
    ]
if SWEEP_DATASETS:
    FIGURES += ["figA1_layer_sweep"]
if OTHER_METHODS:
    FIGURES += ["fig10_methods_steerability", "fig11_methods_anti_steerable"]

# figure -> the tables it is drawn from (input name -> path)
FIGURE_INPUTS = {
    "fig1_steerability_distribution": {
        "item_slopes": "results/{model}/tables/items.parquet"
    },
    "fig2_anti_steerable_fraction": {
        "steerability": "results/{model}/tables/steerability.csv"
    },
    "fig3_variance_explained": {"bias": "results/{model}/tables/bias.csv"},
    "fig4_propensity_curves": {
        "example_propensities": f"results/{{model}}/steering/{EXAMPLE_DATASET}/propensities.parquet",
        "example_slopes": f"results/{{model}}/steering/{EXAMPLE_DATASET}/items.parquet",
    },
    "fig5_id_vs_ood": {
        "id_vs_ood": "results/{model}/tables/id_vs_ood.csv",
        "ood_correlations": "results/{model}/tables/ood_correlations.csv",
    },
    "fig6_relative_steerability": {
        "relative": "results/{model}/tables/relative_steerability.csv",
        "ood_correlations": "results/{model}/tables/ood_correlations.csv",
    },
    "fig8_geometry": {
        "geometry": "results/{model}/tables/geometry.csv",
        "steerability": "results/{model}/tables/steerability.csv",
        "item_slopes": "results/{model}/tables/items.parquet",
        "geometry_correlations": "results/{model}/tables/geometry_correlations.csv",
    },
    "fig9_ood_vector_cosines": {
        "ood_vector_cosines": "results/{model}/tables/ood_vector_cosines.csv"
    },
    **{
        name: {
            "methods": "results/{model}/tables/methods.csv",
            "nulls": "results/{model}/tables/methods_vs_null.csv",
        }
        for name in ("fig10_methods_steerability", "fig11_methods_anti_steerable")
    },
    "figA1_layer_sweep": {
        "sweep": "results/{model}/tables/layer_sweep.csv",
        "layer": "results/{model}/layer.json",
    },
    "figA2_multiplier_range": {
        "multiplier_range": "results/{model}/tables/multiplier_range.csv"
    },
}
FIGURE_CATEGORIES = {
    "fig1": "In distribution",
    "fig2": "In distribution",
    "fig3": "In distribution",
    "fig4": "In distribution",
    "fig5": "Out of distribution",
    "fig6": "Out of distribution",
    "fig8": "Beyond the paper",
    "fig9": "Out of distribution",
    "fig10": "Vector methods",
    "fig11": "Vector methods",
    "figA1": "Appendix",
    "figA2": "Appendix",
}


def figure_outputs():
    outputs = {}
    for name in FIGURES:
        category = FIGURE_CATEGORIES[name.split("_")[0]]
        png = f"results/{{model}}/figures/{name}.png"
        caption = f"../report/{name}.rst"
        outputs[f"{name}_png"] = report(
            png, caption=caption, category=category, subcategory="{model}"
        )
        outputs[f"{name}_svg"] = f"results/{{model}}/figures/{name}.svg"
    return outputs


wildcard_constraints:
    model="[A-Za-z0-9][A-Za-z0-9._-]*",
    dataset="[A-Za-z0-9_-]+",


def default_resource(name, wildcards, input, attempt):
    """The value the profile's default-resources (or --default-resources) give ``name`` for this job, else None.

    A rule's own resource replaces the default even when it evaluates to None; a model that does not
    set a scheduler key (e.g. slurm_partition) therefore takes the profile's value from here. Reads
    Snakemake's parsed defaults (snakemake is pinned; tests/test_cluster.py checks the result).
    """
    resource = workflow.resource_settings._parsed_default_resources.get(name)
    if resource is None:
        return None
    evaluated = resource.evaluate(
        wildcards,
        input=input,
        attempt=attempt,
        threads=1,
        rulename=None,
        async_run=False,
    )
    return evaluated.value


def model_resource(name, datasets):
    """Resource callable of a job that runs the model on ``datasets`` datasets: follows the model's
    entry and size, the number of datasets (runtime) and the attempt."""

    def resource(wildcards, input, attempt):
        value = model_job_resources(
            config["models"][wildcards.model],
            input.model,
            attempt,
            config["compute"],
            datasets=datasets,
        )[name]
        if value is None and name in PASS_THROUGH:
            return default_resource(name, wildcards, input, attempt)
        return value

    return resource


def group_resources(datasets):
    """What a job that runs the model on ``datasets`` datasets asks a scheduler for (README, "The
    paper-scale study on GPUs"). A resource whose value is None is not requested at all: a CPU model's
    jobs carry no gpu resource, so no scheduler gives them a GPU and Kubernetes adds no GPU toleration.
    """
    return {name: model_resource(name, datasets) for name in RESOURCE_NAMES}


def code_version(script):
    """The hash of the package code a rule's script runs: a change to it re-runs the rule's jobs."""
    return package_code_version(
        Path(workflow.basedir) / "workflow" / "scripts" / script
    )


def raw_file(wildcards):
    """The file a dataset is built from: a pinned raw file, the user's own file, or a hub dataset's rows."""
    if wildcards.dataset in USER_DATASETS:
        return raw_input(wildcards.dataset, USER_DATASETS[wildcards.dataset])
    return f"resources/raw/{dataset_kind_and_path(wildcards.dataset)[1]}"


def hub_dataset_record(wildcards):
    """What was downloaded for a hub dataset (its resolved commit): an input of the dataset it builds."""
    entry = USER_DATASETS.get(wildcards.dataset)
    return [hub_record(wildcards.dataset)] if entry and entry.get("hub") else []


def pinned_sha256(wildcards):
    return pinned_checksums(config["data"]["checksums"])[wildcards.raw_path]


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


def model_params(wildcards):
    """What a job that runs the model needs to know about it and about the prompts."""
    entry = config["models"][wildcards.model]
    return {
        "system_prompt": config["prompt"]["system_prompt"],
        "system_mode": entry["system_prompt"],
        "prompt_format": entry["prompt_format"],
        "dtype": entry["dtype"],
        "device": entry["device"],
        "trust_remote_code": entry["trust_remote_code"],
        # the configured budget (a change re-runs the jobs); a retry runs with resources.token_budget
        "token_budget": entry["token_budget"] or config["compute"]["token_budget"],
        "batch_size": entry["batch_size"] or config["compute"]["batch_size"],
        "bf16_fallback": entry["bf16_fallback"],
    }


# --- model jobs over groups of datasets (compute.datasets_per_job; steering_reliability.run.dataset_groups)
# per stage: the datasets of each job (config order), the logs folder of each dataset, and each
# dataset's outputs by name
STAGE_GROUPS = stage_groups(config)
STAGE_LOGS = {"activations": "activations", "evaluation": "steering", "sweep": "sweep"}
STAGE_OUTPUTS = {
    "activations": {"activations": "results/{model}/activations/{dataset}.safetensors"},
    "evaluation": {
        "propensities": "results/{model}/steering/{dataset}/propensities.parquet",
        "slopes": "results/{model}/steering/{dataset}/items.parquet",
        "activations": "results/{model}/steering/{dataset}/activations.safetensors",
    },
    "sweep": {
        "activations": "results/{model}/sweep/{dataset}/activations.safetensors",
        "propensities": "results/{model}/sweep/{dataset}/propensities.parquet",
    },
}


def dataset_inputs(stage, model, dataset):
    """The files one dataset of a model stage reads, by name."""
    inputs = {
        "dataset": f"results/datasets/{dataset}.parquet",
        "model": f"resources/models/{model}/model.json",
    }
    if stage != "sweep":
        if stage == "evaluation":
            inputs["vectors"] = f"results/{model}/vectors/{dataset}.safetensors"
        inputs["layer"] = f"results/{model}/layer.json"
        if dataset in OOD_DATASETS:
            inputs["personas"] = PERSONAS
    return inputs


def dataset_plan(stage, model, dataset):
    """One dataset of a model job: what it would read, write, log and know as a job of its own."""
    wildcards = {"model": model, "dataset": dataset}
    return {
        "rule": STAGE_RULES[stage],
        "input": dataset_inputs(stage, model, dataset),
        "output": {
            name: pattern.format(**wildcards)
            for name, pattern in STAGE_OUTPUTS[stage].items()
        },
        "log": {"job": f"logs/{model}/{STAGE_LOGS[stage]}/{dataset}.log"},
        "params": {"variants": VARIANTS if dataset in OOD_DATASETS else [BASELINE]},
    }


def group_inputs(stage, datasets):
    """Input function of a model job: every file its datasets read (the model's model.json apart)."""

    def inputs(wildcards):
        files = []
        for dataset in datasets:
            for name, path in dataset_inputs(stage, wildcards.model, dataset).items():
                if name != "model" and path not in files:
                    files.append(path)
        return files

    return inputs


def group_plan(stage, datasets):
    """Params function of a model job: each dataset's plan, in order."""

    def plan(wildcards):
        return {
            dataset: dataset_plan(stage, wildcards.model, dataset)
            for dataset in datasets
        }

    return plan


def group_outputs(stage, datasets):
    return [
        pattern.replace("{model}", "{{model}}").format(dataset=dataset)
        for dataset in datasets
        for pattern in STAGE_OUTPUTS[stage].values()
    ]


def group_logs(stage, datasets):
    return [f"logs/{{model}}/{STAGE_LOGS[stage]}/{dataset}.log" for dataset in datasets]


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
        "ood_correlations.csv",
        "relative_steerability.csv",
    ] + (
        ["ood_methods_id_vs_ood.csv", "ood_methods_correlations.csv"]
        if OOD_OTHER_METHODS
        else []
    )
    return (
        manifests
        + comparison
        + ["results/summary.csv", "results/summary.md", "results/findings.csv"]
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
                "geometry.csv",
                "geometry_correlations.csv",
            ]
            + (ood_tables if OOD_DATASETS else [])
            + (
                [
                    "methods.csv",
                    "methods_vs_null.csv",
                    "method_geometry.csv",
                    "method_cosines.csv",
                ]
                if OTHER_METHODS
                else []
            )
            + (["layer_sweep.csv"] if SWEEP_DATASETS else []),
        )
    )
