# Steering-vector reliability study (Tan et al., NeurIPS 2024), re-run end to end.
# This file is the table of contents; the logic lives in the steering_reliability package.
import os
import sys

from snakemake.utils import min_version

min_version("9.0")

# The package that holds the logic is this workflow's own src/: this Snakefile imports it, and
# every job (in whichever environment: a venv, a conda env, a container, a cluster node) finds it
# through PYTHONPATH, from any working directory (--directory, a module from a local path). A
# module read from a remote source has no local src/: there the package must be installed.
PACKAGE_SOURCE = os.path.join(workflow.basedir, "src")
if os.path.isdir(PACKAGE_SOURCE):
    sys.path.insert(0, PACKAGE_SOURCE)
    os.environ.update(
        PYTHONPATH=os.pathsep.join(
            filter(None, [PACKAGE_SOURCE, os.environ.get("PYTHONPATH")])
        )
    )


# One config file is one study: config/config.yaml applies only when no --configfile is
# given (a --configfile replaces it instead of being merged into it; --config still merges).
if not workflow.overwrite_configfiles:

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
include: "workflow/rules/geometry.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/summary.smk"
include: "workflow/rules/provenance.smk"


report: "workflow/report/workflow.rst"


# On a cluster these run on the submitting host: they download, and compute nodes often have no
# internet. So does prepare_model unless compute.prepare_models is "job" (workflow/rules/models.smk).
localrules:
    fetch_raw_file,
    fetch_hub_dataset,


rule all:
    input:
        final_targets(),
