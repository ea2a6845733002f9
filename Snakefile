# Steering-vector reliability study (Tan et al., NeurIPS 2024), re-run end to end.
# This file is the table of contents; the logic lives in the steering_reliability package.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/activations.smk"
include: "workflow/rules/vectors.smk"
include: "workflow/rules/steering.smk"
include: "workflow/rules/sweep.smk"
include: "workflow/rules/ood.smk"
include: "workflow/rules/bias.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/summary.smk"
include: "workflow/rules/provenance.smk"


report: "workflow/report/workflow.rst"


# On a cluster these run on the submitting host: they download (raw data, model weights),
# and compute nodes often have no internet.
localrules:
    fetch_raw_file,
    prepare_model,


rule all:
    input:
        final_targets(),
