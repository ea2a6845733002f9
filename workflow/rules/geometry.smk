# Geometry of the training activations at the steering layer (beyond the paper; Braun et al.
# 2025): per dataset and prompt variant, from the cached activations, no forward pass; and
# whether it predicts steerability, per dataset and per item.


rule geometry_tables:
    input:
        activations=per_dataset("results/{model}/activations/{dataset}.safetensors"),
        vectors=per_dataset("results/{model}/vectors/{dataset}.safetensors"),
        slopes=per_dataset("results/{model}/steering/{dataset}/items.parquet"),
        steerability="results/{model}/tables/steerability.csv",
        layer=layer_file,
    output:
        geometry="results/{model}/tables/geometry.csv",
        cosines="results/{model}/tables/ood_vector_cosines.csv",
        correlations=report(
            "results/{model}/tables/geometry_correlations.csv",
            caption="../report/table_geometry_correlations.rst",
            category="Tables",
            subcategory="{model}",
        ),
    log:
        "logs/{model}/tables/geometry.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        code=code_version("geometry_tables.py"),
        datasets=DATASETS,
        statistics=config["statistics"],
    script:
        "../scripts/geometry_tables.py"
