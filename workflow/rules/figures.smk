# Figures 1-4 of the in-distribution study, the final targets, with report captions.


rule figure_steerability_distribution:
    input:
        "results/{model}/tables/items.parquet",
    output:
        png=report(
            "results/{model}/figures/fig1_steerability_distribution.png",
            caption="../report/fig1_steerability_distribution.rst",
            category="In distribution",
            subcategory="{model}",
        ),
        svg="results/{model}/figures/fig1_steerability_distribution.svg",
    log:
        "logs/{model}/figures/fig1.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        code=code_version("figure.py"),
    script:
        "../scripts/figure.py"


rule figure_anti_steerable_fraction:
    input:
        "results/{model}/tables/steerability.csv",
    output:
        png=report(
            "results/{model}/figures/fig2_anti_steerable_fraction.png",
            caption="../report/fig2_anti_steerable_fraction.rst",
            category="In distribution",
            subcategory="{model}",
        ),
        svg="results/{model}/figures/fig2_anti_steerable_fraction.svg",
    log:
        "logs/{model}/figures/fig2.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        code=code_version("figure.py"),
    script:
        "../scripts/figure.py"


rule figure_variance_explained:
    input:
        "results/{model}/tables/bias.csv",
    output:
        png=report(
            "results/{model}/figures/fig3_variance_explained.png",
            caption="../report/fig3_variance_explained.rst",
            category="In distribution",
            subcategory="{model}",
        ),
        svg="results/{model}/figures/fig3_variance_explained.svg",
    log:
        "logs/{model}/figures/fig3.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        code=code_version("figure.py"),
    script:
        "../scripts/figure.py"


rule figure_propensity_curves:
    input:
        propensities=f"results/{{model}}/steering/{EXAMPLE_DATASET}/propensities.parquet",
        slopes=f"results/{{model}}/steering/{EXAMPLE_DATASET}/items.parquet",
    output:
        png=report(
            "results/{model}/figures/fig4_propensity_curves.png",
            caption="../report/fig4_propensity_curves.rst",
            category="In distribution",
            subcategory="{model}",
        ),
        svg="results/{model}/figures/fig4_propensity_curves.svg",
    log:
        "logs/{model}/figures/fig4.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        code=code_version("figure.py"),
        dataset=EXAMPLE_DATASET,
    script:
        "../scripts/figure.py"


rule figure_id_vs_ood:
    input:
        table="results/{model}/tables/id_vs_ood.csv",
        correlations="results/{model}/tables/ood_correlations.csv",
    output:
        png=report(
            "results/{model}/figures/fig5_id_vs_ood.png",
            caption="../report/fig5_id_vs_ood.rst",
            category="Out of distribution",
            subcategory="{model}",
        ),
        svg="results/{model}/figures/fig5_id_vs_ood.svg",
    log:
        "logs/{model}/figures/fig5.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        code=code_version("figure.py"),
    script:
        "../scripts/figure.py"


rule figure_relative_steerability:
    input:
        relative="results/{model}/tables/relative_steerability.csv",
        correlations="results/{model}/tables/ood_correlations.csv",
    output:
        png=report(
            "results/{model}/figures/fig6_relative_steerability.png",
            caption="../report/fig6_relative_steerability.rst",
            category="Out of distribution",
            subcategory="{model}",
        ),
        svg="results/{model}/figures/fig6_relative_steerability.svg",
    log:
        "logs/{model}/figures/fig6.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        code=code_version("figure.py"),
    script:
        "../scripts/figure.py"


rule figure_layer_sweep:
    input:
        sweep="results/{model}/tables/layer_sweep.csv",
        layer="results/{model}/layer.json",
    output:
        png=report(
            "results/{model}/figures/figA1_layer_sweep.png",
            caption="../report/figA1_layer_sweep.rst",
            category="Appendix",
            subcategory="{model}",
        ),
        svg="results/{model}/figures/figA1_layer_sweep.svg",
    log:
        "logs/{model}/figures/figA1.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        code=code_version("figure.py"),
    script:
        "../scripts/figure.py"


rule figure_multiplier_range:
    input:
        "results/{model}/tables/multiplier_range.csv",
    output:
        png=report(
            "results/{model}/figures/figA2_multiplier_range.png",
            caption="../report/figA2_multiplier_range.rst",
            category="Appendix",
            subcategory="{model}",
        ),
        svg="results/{model}/figures/figA2_multiplier_range.svg",
    log:
        "logs/{model}/figures/figA2.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        code=code_version("figure.py"),
    script:
        "../scripts/figure.py"


rule figure_geometry:
    input:
        geometry="results/{model}/tables/geometry.csv",
        steerability="results/{model}/tables/steerability.csv",
        slopes="results/{model}/tables/items.parquet",
        correlations="results/{model}/tables/geometry_correlations.csv",
    output:
        png=report(
            "results/{model}/figures/fig8_geometry.png",
            caption="../report/fig8_geometry.rst",
            category="Beyond the paper",
            subcategory="{model}",
        ),
        svg="results/{model}/figures/fig8_geometry.svg",
    log:
        "logs/{model}/figures/fig8.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        code=code_version("figure.py"),
    script:
        "../scripts/figure.py"


rule figure_ood_vector_cosines:
    input:
        "results/{model}/tables/ood_vector_cosines.csv",
    output:
        png=report(
            "results/{model}/figures/fig9_ood_vector_cosines.png",
            caption="../report/fig9_ood_vector_cosines.rst",
            category="Out of distribution",
            subcategory="{model}",
        ),
        svg="results/{model}/figures/fig9_ood_vector_cosines.svg",
    log:
        "logs/{model}/figures/fig9.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        code=code_version("figure.py"),
    script:
        "../scripts/figure.py"
