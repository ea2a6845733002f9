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
        models=MODELS,
    script:
        "../scripts/compare_models.py"


rule summary:
    input:
        steerability=expand("results/{model}/tables/steerability.csv", model=MODELS),
        bias=expand("results/{model}/tables/bias.csv", model=MODELS),
        layer=expand("results/{model}/layer.json", model=MODELS),
        ood_spearman=(
            expand("results/{model}/tables/ood_spearman.csv", model=MODELS)
            if OOD_DATASETS
            else []
        ),
        relative=(
            expand("results/{model}/tables/relative_steerability.csv", model=MODELS)
            if OOD_DATASETS
            else []
        ),
        comparison="results/comparison/spearman.csv" if len(MODELS) > 1 else [],
    output:
        csv="results/summary.csv",
        md="results/summary.md",
    log:
        "logs/summary.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        models=MODELS,
    script:
        "../scripts/summary.py"
