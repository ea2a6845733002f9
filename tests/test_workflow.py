"""The Snakemake workflow on a tiny config (3 datasets x 8 items, the real SmolLM2-135M), through to the figures."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from conftest import with_defaults


@pytest.fixture(scope="module")
def results(tiny_run):
    """(the model's results folder, the config)."""
    workdir, config = tiny_run
    return workdir / "results" / "smollm2-135m-instruct", config


FIGURES = (
    "fig1_steerability_distribution",
    "fig2_anti_steerable_fraction",
    "fig3_variance_explained",
    "fig4_propensity_curves",
    "fig5_id_vs_ood",
    "fig6_relative_steerability",
    "fig10_methods_steerability",
    "fig11_methods_anti_steerable",
    "figA1_layer_sweep",
    "figA2_multiplier_range",
)


def test_figures_are_written(results):
    results, config = results
    for model in config["models"]:
        for figure in FIGURES:
            for extension in ("png", "svg"):
                path = results.parent / model / "figures" / f"{figure}.{extension}"
                assert path.stat().st_size > 1000, path
    assert (results.parent / "comparison/fig7_cross_model.png").stat().st_size > 1000


def test_layer_auto_uses_the_sweep_best_layer_downstream(results):
    import json

    from steering_reliability.analysis.layers import eligible_layers, pick_layer
    from steering_reliability.run.tensors import load_tensors

    results, config = results
    config = with_defaults(config)
    auto = results.parent / "smollm2-local"
    record = json.loads((auto / "layer.json").read_text())
    sweep = pd.read_csv(auto / "tables/layer_sweep.csv")
    assert sorted(sweep["layer"].unique()) == list(range(30))
    assert (sweep["mean_abs_position_effect"] >= 0).all()  # counterbalanced: the behaviour's and the position's curves
    # picked among the first three quarters of the layers (an unrestricted pick takes SmolLM2's last layer)
    eligible = eligible_layers(30, config["sweep"]["auto_depth"])
    assert record == {**record, "source": "sweep", "layer": pick_layer(sweep, eligible)}
    assert record["eligible_layers"] == [0, 22] and record["layer"] <= 22
    for path in (auto / "vectors/admits-uncertainty.safetensors", auto / "steering/truthfulqa/activations.safetensors"):
        assert int(load_tensors(path)[1]["layer"]) == record["layer"]
    fixed = json.loads((results / "layer.json").read_text())
    assert fixed == {"layer": 10, "source": "config"}


def test_ood_tables_hold_six_vectors_on_five_variants(results):
    from steering_reliability.data.variants import VARIANTS, VECTORS
    from steering_reliability.model.vector_names import caa_vectors
    from steering_reliability.run.tensors import load_tensors

    results, config = results
    per_split = config["data"]["max_items"] // 2
    vectors = caa_vectors(load_tensors(results / "vectors/admits-uncertainty.safetensors")[0])
    assert sorted(vectors) == sorted(VECTORS)
    for name in VECTORS:
        assert float(vectors[name].norm()) == pytest.approx(float(vectors["baseline"].norm()), rel=1e-5)
    items = pd.read_parquet(results / "tables/ood_items.parquet")
    ood = config["ood"]["datasets"]
    assert len(items) == len(ood) * len(VARIANTS) * len(VECTORS) * per_split
    # the ID table is the (baseline vector, baseline prompts) part of the same evaluation: computed once
    id_items = pd.read_parquet(results / "tables/items.parquet")
    id_items = id_items[id_items["dataset"].isin(ood)]
    same = items[(items["vector"] == "baseline") & (items["variant"] == "baseline")]
    merged = same.merge(id_items, on=["dataset", "item_id"], suffixes=("_ood", "_id"))
    assert len(merged) == len(id_items)
    assert (merged["slope_ood"] == merged["slope_id"]).all()
    # the unsteered propensity does not depend on the vector
    propensities = pd.read_parquet(results / f"steering/{ood[0]}/propensities.parquet")
    unsteered = propensities[propensities["multiplier"] == 0].groupby(["variant", "item_id"])["logit_diff"].nunique()
    assert (unsteered == 1).all()
    relative = pd.read_csv(results / "tables/relative_steerability.csv")
    assert len(relative) == len(ood) * len(VARIANTS) ** 2


def test_every_vector_method_goes_through_the_analysis_and_against_the_null(results):
    """vectors.methods [caa, pca, random] x 2 draws: per dataset a row per direction with its intervals and shares,
    the null comparison, the geometry along each direction, the summary's rows and findings against chance."""
    from steering_reliability.run.tensors import load_tensors

    results, config = results
    tables = results / "tables"
    methods = pd.read_csv(tables / "methods.csv")
    assert len(methods) == 3 * (2 + 2)  # datasets x (caa, pca + 2 random draws)
    # counterbalanced: the A/B factor is constant within a pair; the Yes/No share has its interval, the position
    # its share of the two orders' slopes
    assert methods[methods["draw"].isna()]["share_yes_no_ci_low"].notna().any()
    assert methods["position_share"].between(0, 1).all()
    caa = methods[methods["method"] == "caa"].set_index("dataset")["mean_steerability"]
    steerability = pd.read_csv(tables / "steerability.csv").set_index("dataset")["mean_steerability"]
    assert (caa.loc[steerability.index] == steerability).all()  # the same CAA rows as the study's own table
    nulls = pd.read_csv(tables / "methods_vs_null.csv")
    assert len(nulls) == 3 * 2 and (nulls["random_draws"] == 2).all()
    assert nulls["mean_steerability_random_p"].isin([1 / 3, 2 / 3, 1.0]).all()  # (1 + k) / (1 + 2)
    geometry = pd.read_csv(tables / "method_geometry.csv")
    assert len(geometry) == len(methods)
    assert geometry[geometry["method"] == "caa"]["cosine_with_caa"].to_numpy() == pytest.approx(1.0)
    assert set(pd.read_csv(tables / "method_cosines.csv")["method_a"]) == {"caa", "pca"}
    # ood.methods [caa]: no other method's OOD vectors, and the OOD tables of CAA alone
    stored = load_tensors(results / f"vectors/{config['ood']['datasets'][0]}.safetensors")[0]
    assert "method.pca" in stored and not any(":" in name for name in stored)
    assert not (tables / "ood_methods_correlations.csv").exists()
    summary = pd.read_csv(results.parent / "summary.csv")
    quantities = set(summary.loc[summary["model"] == "smollm2-135m-instruct", "quantity"])
    assert {
        "mean_steerability[method:pca]",
        "anti_steerable_fraction[null:random]",
        "datasets_above_null[pca vs random]",
    } <= quantities
    findings = pd.read_csv(results.parent / "findings.csv")
    against = findings[findings["finding"].str.contains("random direction of the same norm")]
    assert len(against) == 3 * len(config["models"])  # F0, F1 and F2 against chance per model
    assert "## Against chance" in (results.parent / "summary.md").read_text()


def test_summary_lists_every_quantity_with_the_paper_value(results):
    results, config = results
    summary = pd.read_csv(results.parent / "summary.csv")
    for model in config["models"]:
        quantities = set(summary.loc[summary["model"] == model, "quantity"])
        assert {
            "steering_layer",
            "mean_steerability",
            "anti_steerable_fraction",
            "anti_steerable_both_orders_fraction",  # the tiny study is counterbalanced (the default protocol's default)
            "position_share",
            "share_yes_no",
            "steered_datasets",
            "format_dominated_datasets",
            "spearman_id_vs_ood",
            "relative_steerability_vs_gap_rho",
            "min_cosine_to_baseline_vector",
            "geometry_rho[difference_cosine]",
        } <= quantities
    cross = summary[summary["quantity"].str.startswith("cross_model_rho")]
    assert set(cross["quantity"]) == {"cross_model_rho_ID", "cross_model_rho_OOD"}
    # the tiny study is far too small, and its models are not the paper's: the summary says both
    headline = summary[summary["quantity"] == "spearman_id_vs_ood"]
    assert headline["note"].str.startswith("n too small: only 1 dataset").all()
    assert headline["verdict"].str.startswith("not comparable").all()
    assert headline["paper"].str.contains("0.891").all()
    markdown = (results.parent / "summary.md").read_text()
    assert (
        "## Which of the paper's findings this run reproduces" in markdown and "not testable (n too small)" in markdown
    )
    assert "## Behaviour or answer format" in markdown and "- **smollm2-135m-instruct**: steers " in markdown
    assert "share_ab" not in set(summary["quantity"])  # constant within a pair: the position share replaces it
    findings = pd.read_csv(results.parent / "findings.csv")
    assert set(findings["model"]) >= set(config["models"])


def test_your_own_dataset_goes_through_the_study_like_a_built_in_one(results):
    """The example dataset (examples/admits-uncertainty, with its persona sentences from the config): its file's
    sha256 is in the prepared dataset's provenance, it has every per-dataset table row (the OOD study's too), and
    the summary reports it on its own."""
    import json

    from steering_reliability.data.sources import sha256_of

    from conftest import REPO

    results, config = results
    workdir = results.parent.parent
    example = REPO / "examples/admits-uncertainty/admits-uncertainty.jsonl"
    record = json.loads((workdir / "results/datasets/admits-uncertainty.parquet.prov.json").read_text())
    assert record["inputs"] == {str(example): sha256_of(example)}
    for table in ("steerability.csv", "bias.csv", "geometry.csv", "ood_steerability.csv"):
        assert "admits-uncertainty" in set(pd.read_csv(results / "tables" / table)["dataset"]), table
    bias = pd.read_csv(results / "tables/bias.csv").set_index("dataset")
    assert bias.loc["admits-uncertainty", "share_yes_no"] >= 0  # a statement dataset has the Yes/No factor
    summary = pd.read_csv(results.parent / "summary.csv")
    own = summary[summary["quantity"].str.endswith("[admits-uncertainty]")]
    assert set(own["quantity"]) == {
        f"{quantity}[admits-uncertainty]"
        for quantity in ("mean_steerability", "anti_steerable_fraction", "position_share", "share_yes_no")
    }
    assert len(own) == 4 * len(config["models"])
    markdown = (results.parent / "summary.md").read_text()
    assert "## Your own datasets" in markdown
    assert "| smollm2-135m-instruct | mean_steerability[admits-uncertainty] |" in markdown
    assert "In-distribution only" not in markdown  # its persona sentences come from the config
    sentences = json.loads((workdir / "results/datasets/persona_sentences.json").read_text())["admits-uncertainty"]
    assert sentences == config["data"]["user_datasets"]["admits-uncertainty"]["persona"]


def test_tables_hold_every_item_and_multiplier(results):
    results, config = results
    datasets = config["data"]["datasets"]
    per_split = config["data"]["max_items"] // 2
    items = pd.read_parquet(results / "tables/items.parquet")  # one row per item: its two answer orders' pair
    assert sorted(items["dataset"].unique()) == sorted(datasets)
    assert (items.groupby("dataset").size() == per_split).all()
    summary = pd.read_csv(results / "tables/steerability.csv").set_index("dataset")
    for dataset, frame in items.groupby("dataset"):
        assert summary.loc[dataset, "mean_steerability"] == pytest.approx(frame["slope"].mean())
        assert summary.loc[dataset, "anti_steerable_fraction"] == pytest.approx((frame["slope"] <= 0).mean())
        both = (frame["slope"] + frame["position_effect"].abs() <= 0).mean()
        assert summary.loc[dataset, "anti_steerable_both_orders_fraction"] == pytest.approx(both)
    # each pair's behaviour slope and position effect from its two orders' own slopes
    orders = pd.read_parquet(results / "steering/truthfulqa/items.parquet")
    orders = orders[(orders["vector"] == "baseline") & (orders["variant"] == "baseline")]
    at_a = orders[orders["positive_is_a"]].set_index("pair_id")["slope"]
    at_b = orders[~orders["positive_is_a"]].set_index("pair_id")["slope"]
    pairs = items[items["dataset"] == "truthfulqa"].set_index("item_id")
    assert pairs["slope"].to_numpy() == pytest.approx(((at_a + at_b) / 2).loc[pairs.index].to_numpy())
    assert pairs["position_effect"].to_numpy() == pytest.approx(((at_a - at_b) / 2).loc[pairs.index].to_numpy())
    per_split *= 2  # the prompts: every item in both answer orders
    propensities = pd.read_parquet(results / "steering/admits-uncertainty/propensities.parquet")
    # the other methods' directions (pca, 2 random draws) go on the baseline prompts only
    in_distribution_only = 3
    # an OOD dataset: every vector of CAA on every prompt variant
    settings = 5 * 6 + in_distribution_only
    assert len(propensities) == settings * per_split * len(config["steering"]["multipliers"])
    # a dataset outside the OOD study: the baseline vector and the other methods' on the baseline prompts only
    baseline_only = pd.read_parquet(results / "steering/corrigible-neutral-HHH/propensities.parquet")
    assert len(baseline_only) == (1 + in_distribution_only) * per_split * len(config["steering"]["multipliers"])
    assert propensities["logit_diff"].notna().all()
    # persona items carry the Yes/No factor, the others do not
    assert items[items["dataset"] == "admits-uncertainty"]["positive_is_yes"].notna().all()
    assert items[items["dataset"] == "truthfulqa"]["positive_is_yes"].isna().all()
    assert (items["slope_se"] > 0).all()


def test_bias_shares_add_up(results):
    results, _ = results
    bias = pd.read_csv(results / "tables/bias.csv")
    totals = bias["share_ab"] + bias["share_yes_no"] + bias["share_residual"]
    assert totals.to_numpy() == pytest.approx(1.0)


def test_vector_metadata_records_layer_and_config(results):
    from steering_reliability.run.tensors import load_tensors

    results, config = results
    tensors, metadata = load_tensors(results / "vectors/admits-uncertainty.safetensors")
    assert tensors["baseline"].shape == (576,)
    assert int(metadata["layer"]) == config["models"]["smollm2-135m-instruct"]["layer"]
    assert len(metadata["config_hash"]) == 16
    activations, act_meta = load_tensors(results / "activations/admits-uncertainty.safetensors")
    # the steering layer only, for each of the five prompt variants
    assert activations["baseline.positive"].shape == (8, 1, 576) and len(activations) == 10  # 4 items x 2 orders
    assert act_meta["split"] == "train" and act_meta["layers"] == "[10]"


def test_html_report_holds_every_figure_and_the_summary_tables_with_their_captions(tiny_run):
    import subprocess

    from conftest import workflow_command

    workdir, config = tiny_run
    report = workdir / "report.html"
    completed = subprocess.run(workflow_command(workdir, "--report", str(report)), capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr[-3000:]
    html = report.read_text()
    for figure, caption in (
        ("fig1_steerability_distribution", "Figure 1: per-item steerability"),
        ("fig2_anti_steerable_fraction", "Figure 2: anti-steerable fraction"),
        ("fig3_variance_explained", "Figure 3: variance of steerability explained"),
        ("fig4_propensity_curves", "Figure 4: propensity curves"),
        ("fig5_id_vs_ood", "Figure 5: in-distribution vs out-of-distribution"),
        ("fig6_relative_steerability", "Figure 6: relative steerability"),
        ("fig7_cross_model", "Figure 7: steerability across models"),
        ("figA1_layer_sweep", "Appendix figure A1: layer sweep"),
        ("figA2_multiplier_range", "Appendix figure A2: effect of the multiplier range"),
    ):
        assert figure in html and caption in html, figure
    for table, caption in (
        ("summary.csv", "Summary: the headline quantities beside the paper"),
        ("findings.csv", "Findings: which of the paper"),
        ("steerability.csv", "Steerability per dataset"),
        ("bias.csv", "Spurious factors per dataset"),
        ("ood_correlations.csv", "Correlations of the out-of-distribution study"),
        ("geometry_correlations.csv", "Does the geometry of the training activations predict"),
    ):
        assert table in html and caption in html, table
    # captions take their values from the run's config, not from the default one
    assert str(config["steering"]["multipliers"]) in html
    assert "-1.5 to 1.5" not in html and "a small CPU model" not in html


def test_every_artifact_has_provenance_and_a_manifest_entry(results):
    import json

    folder, config = results
    manifest = json.loads((folder / "manifest.json").read_text())
    listed = {entry["path"]: entry for entry in manifest["artifacts"]}
    figure = "results/smollm2-135m-instruct/figures/fig1_steerability_distribution.png"
    assert listed[figure]["rule"] == "figures"
    record = json.loads((folder / "figures/fig1_steerability_distribution.png.prov.json").read_text())
    assert record["sha256"] == listed[figure]["sha256"]
    # one job draws every figure of the model; each figure's record names only the tables it is drawn from
    assert set(record["inputs"]) == {"results/smollm2-135m-instruct/tables/items.parquet"}
    geometry = json.loads((folder / "figures/fig8_geometry.svg.prov.json").read_text())
    assert {Path(path).name for path in geometry["inputs"]} == {
        "geometry.csv",
        "steerability.csv",
        "items.parquet",
        "geometry_correlations.csv",
    }
    vector = json.loads((folder / "vectors/admits-uncertainty.safetensors.prov.json").read_text())
    assert vector["model"]["id"] == "smollm2-135m-instruct"
    assert vector["model"]["weights_sha256"]["model.safetensors"]
    assert vector["packages"]["torch"].startswith("2.13.0")
    assert len(vector["config_hash"]) == 16 and vector["workflow_commit"]
    assert set(vector["inputs"]) == {
        "results/smollm2-135m-instruct/activations/admits-uncertainty.safetensors",
        "results/smollm2-135m-instruct/layer.json",
    }
    # one job evaluated the three datasets (compute.datasets_per_job): each artifact's record is its dataset's own
    # (the OOD dataset's inputs include the persona sentences, the others' do not)
    for dataset, ood in (("admits-uncertainty", True), ("truthfulqa", False)):
        evaluated = json.loads((folder / f"steering/{dataset}/items.parquet.prov.json").read_text())
        assert evaluated["rule"] == "evaluate_steering"
        assert evaluated["wildcards"] == {"model": "smollm2-135m-instruct", "dataset": dataset}
        assert set(evaluated["inputs"]) == {
            f"results/datasets/{dataset}.parquet",
            "resources/models/smollm2-135m-instruct/model.json",
            f"results/smollm2-135m-instruct/vectors/{dataset}.safetensors",
            "results/smollm2-135m-instruct/layer.json",
        } | ({"results/datasets/persona_sentences.json"} if ood else set())


def test_audit_explains_an_artifact_and_flags_a_tampered_input(tiny_run, tmp_path):
    import shutil
    import subprocess
    import sys

    workdir, _ = tiny_run
    copy = tmp_path / "copy"
    shutil.copytree(workdir / "results", copy / "results")
    shutil.copytree(workdir / "resources" / "raw", copy / "resources/raw")
    shutil.copytree(
        workdir / "resources" / "models" / "smollm2-135m-instruct",
        copy / "resources/models/smollm2-135m-instruct",
        ignore=shutil.ignore_patterns("transformers"),
    )
    figure = "results/smollm2-135m-instruct/figures/fig4_propensity_curves.png"
    command = [sys.executable, "-m", "steering_reliability", "audit", figure, "--root", str(copy)]
    clean = subprocess.run(command, capture_output=True, text=True)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "rule: figures" in clean.stdout and "all checksums match" in clean.stdout
    assert "cache_activations" in clean.stdout  # the chain goes back to the activation cache
    activations = copy / "results/smollm2-135m-instruct/activations/corrigible-neutral-HHH.safetensors"
    activations.write_bytes(activations.read_bytes() + b"\0")
    tampered = subprocess.run(command, capture_output=True, text=True)
    assert tampered.returncode == 1
    assert "PROBLEMS FOUND" in tampered.stdout
    assert "activations/corrigible-neutral-HHH.safetensors" in tampered.stdout
    assert "modified after it was made" in tampered.stdout
    # a workflow file whose record was deleted cannot pass as a source
    (activations.parent / f"{activations.name}.prov.json").unlink()
    unrecorded = subprocess.run(command, capture_output=True, text=True)
    assert unrecorded.returncode == 1 and "no provenance record" in unrecorded.stdout
    # run from another directory, without --root: the working directory is found from the path
    found = subprocess.run(command[:4] + [str(copy / figure)], capture_output=True, text=True, cwd="/")
    assert found.returncode == 1 and f"artifact: {figure}" in found.stdout
    # a missing path gets its own message and exits 2
    usage = subprocess.run(command[:4] + [str(copy / "results/nope.png")], capture_output=True, text=True)
    assert usage.returncode == 2 and "no such file" in usage.stderr and "Traceback" not in usage.stderr
    # a folder: every artifact in it against its record; the file whose record was deleted is named
    folder = subprocess.run(command[:4] + [str(copy / "results")], capture_output=True, text=True)
    assert folder.returncode == 1, folder.stdout + folder.stderr
    assert folder.stdout.splitlines() == [
        f"{activations}: no provenance record ({activations.name}.prov.json is missing): cannot be verified",
        f"{len(list((copy / 'results').rglob('*.prov.json')))} artifacts checked against their records: 1 problems",
    ]


def test_the_paper_exact_protocol_runs_with_the_paper_codes_split_and_prompt_strings(tmp_path, small_model_json):
    """protocol: paper-exact = the overlapping test slice items[50:N] and repepo's prompt strings."""
    import json

    from conftest import prepare_workdir, run_workflow, tiny_config

    config = tiny_config(full_study=False)
    config["protocol"] = "paper-exact"
    config["data"]["datasets"] = ["corrigible-neutral-HHH", "myopic-reward"]
    config["figures"]["example_dataset"] = "myopic-reward"
    # SmolLM2's chat format is ChatML, as Qwen's: repepo's Qwen strings fit it (the id names no family)
    config["models"]["smollm2-135m-instruct"]["prompt_format"] = "repepo-qwen-chat"
    workdir = prepare_workdir(tmp_path / "paper-exact", config)
    run_workflow(workdir, "results/smollm2-135m-instruct/tables/steerability.csv")
    table = pd.read_parquet(workdir / "results/datasets/myopic-reward.parquet")
    test = table[table["split"] == "test"]
    assert test["shuffled_index"].min() == 50 and len(test) == len(table[table["split"] == "train"]) * 2 - 50
    record = json.loads((workdir / "results/smollm2-135m-instruct/tables/steerability.csv.prov.json").read_text())
    assert record["config"]["data"]["split"] == "repo-exact"
    assert record["config"]["models"]["smollm2-135m-instruct"]["prompt_format"] == "repepo-qwen-chat"
    steerability = pd.read_csv(workdir / "results/smollm2-135m-instruct/tables/steerability.csv")
    assert len(steerability) == 2 and steerability["n_items"].eq(4).all()
