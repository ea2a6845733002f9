# Cross-model comparison (figure 7, with two or more models) and the study summary.


rule compare_models:
    input:
        steerability=expand("results/{model}/tables/steerability.csv", model=MODELS),
        id_vs_ood=(
            expand("results/{model}/tables/id_vs_ood.csv", model=MODELS)
            if OOD_DATASETS
            else []
        ),
    output:
        spearman="results/comparison/spearman.csv",
        png=report(
            "results/comparison/fig7_cross_model.png",
            caption="../report/fig7_cross_model.rst",
            category="Across models",
        ),
        svg="results/comparison/fig7_cross_model.svg",
    log:
        "logs/comparison.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        code=code_version("compare_models.py"),
        models=MODELS,
        statistics=config["statistics"],
    script:
        "../scripts/compare_models.py"


rule summary:
    input:
        steerability=expand("results/{model}/tables/steerability.csv", model=MODELS),
        slopes=expand("results/{model}/tables/items.parquet", model=MODELS),
        bias=expand("results/{model}/tables/bias.csv", model=MODELS),
        layer=expand("results/{model}/layer.json", model=MODELS),
        geometry=expand(
            "results/{model}/tables/geometry_correlations.csv", model=MODELS
        ),
        correlations=(
            expand("results/{model}/tables/ood_correlations.csv", model=MODELS)
            if OOD_DATASETS
            else []
        ),
        cosines=(
            expand("results/{model}/tables/ood_vector_cosines.csv", model=MODELS)
            if OOD_DATASETS
            else []
        ),
        comparison="results/comparison/spearman.csv" if len(MODELS) > 1 else [],
        methods=(
            expand("results/{model}/tables/methods.csv", model=MODELS)
            if OTHER_METHODS
            else []
        ),
        nulls=(
            expand("results/{model}/tables/methods_vs_null.csv", model=MODELS)
            if OTHER_METHODS
            else []
        ),
        ood_methods=(
            expand("results/{model}/tables/ood_methods_correlations.csv", model=MODELS)
            if OOD_OTHER_METHODS and OOD_DATASETS
            else []
        ),
    output:
        csv=report(
            "results/summary.csv",
            caption="../report/table_summary.rst",
            category="Summary",
        ),
        findings=report(
            "results/findings.csv",
            caption="../report/table_findings.rst",
            category="Summary",
        ),
        md="results/summary.md",
    log:
        "logs/summary.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        code=code_version("summary.py"),
        models=MODELS,
    script:
        "../scripts/summary.py"
