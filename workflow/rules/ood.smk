# Out-of-distribution tables: six vectors per dataset, each evaluated on every test variant
# (by evaluate_steering); ID vs OOD Spearman and relative steerability against the unsteered gap.
# With ood.methods beyond caa, the same for every method (ood_methods_*.csv, with a method column).


rule ood_tables:
    input:
        per_dataset("results/{model}/steering/{dataset}/items.parquet", ood=True),
    output:
        **(
            {
                "method_id_vs_ood": "results/{model}/tables/ood_methods_id_vs_ood.csv",
                "method_correlations": report(
                    "results/{model}/tables/ood_methods_correlations.csv",
                    caption="../report/table_ood_methods_correlations.rst",
                    category="Tables",
                    subcategory="{model}",
                ),
            }
            if OOD_OTHER_METHODS
            else {}
        ),
        item_table="results/{model}/tables/ood_items.parquet",
        steerability="results/{model}/tables/ood_steerability.csv",
        id_vs_ood="results/{model}/tables/id_vs_ood.csv",
        correlations=report(
            "results/{model}/tables/ood_correlations.csv",
            caption="../report/table_ood_correlations.rst",
            category="Tables",
            subcategory="{model}",
        ),
        relative="results/{model}/tables/relative_steerability.csv",
    log:
        "logs/{model}/tables/ood.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        code=code_version("ood_tables.py"),
        relative_filter=config["ood"]["relative_filter"],
        statistics=config["statistics"],
    script:
        "../scripts/ood_tables.py"
