# The AFA reproduction workflow: data -> pretrained weights -> train (one job per row) -> evaluate -> test-dev
# files -> regenerated tables, figure and training curves. Every rule calls an `afa` command that a user can
# also run alone; this file and workflow/rules/*.smk only wire them together.
#
#   snakemake --profile workflow/profiles/smoke            # the embedded default: CPU, synthetic data, minutes
#   snakemake --profile workflow/profiles/coco -n          # the real thing on one GPU node (dry run)
#   snakemake --profile workflow/profiles/slurm            # one SLURM job per training run
import os

from snakemake.utils import min_version, validate

min_version("8.0")

configfile: os.path.join(workflow.basedir, "config", "config.yaml")


validate(config, "workflow/schemas/config.schema.yaml")


# With --sdm apptainer and config `container` set (e.g. docker://IMAGE), every job runs inside the image.
if config.get("container"):

    container: config["container"]


include: "workflow/rules/common.smk"
include: "workflow/rules/slurm.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/release.smk"


# Seconds of pandas/matplotlib, and the Drive download (compute nodes often have no internet): run where
# Snakemake runs, not as cluster jobs.
localrules:
    all,
    tables,
    curves,
    release_fetch,


rule all:
    input:
        final_outputs(),
        released_outputs(),
    default_target: True


onsuccess:
    print("AFA workflow finished: %s" % os.path.join(RESULTS_DIR, layout.TABLE_FILES["tables"]))


onerror:
    # A failed row must not hide the finished ones: regenerate the tables from whatever has been evaluated.
    shell(TABLES_CMD + " || true")
