# The per-model figures (the final targets, with report captions), drawn by one job per model:
# each figure is a second of drawing, and a job of its own would pay ~3 s of start-up and
# imports for it. Each figure's provenance record still lists only the tables it was drawn from
# (params.output_inputs), so the audit of a figure follows exactly its own inputs.


rule figures:
    input:
        **{key: path for name in FIGURES for key, path in FIGURE_INPUTS[name].items()},
    output:
        **figure_outputs(),
    log:
        "logs/{model}/figures.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        code=code_version("figure.py"),
        dataset=EXAMPLE_DATASET,
        figures=FIGURES,
        output_inputs={
            f"{name}_{ext}": list(FIGURE_INPUTS[name])
            for name in FIGURES
            for ext in ("png", "svg")
        },
    script:
        "../scripts/figure.py"
