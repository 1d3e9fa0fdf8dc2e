# Optional (config `release: true`, paper scale): the authors' released weights of the selected rows that have
# them, fetched into `release_dir` and evaluated on val2017 into RUN/metrics_released.json, which the tables show
# in their "released weights" column. `snakemake --profile workflow/profiles/coco released` does only this (no
# training): minutes per row on one GPU.
RELEASE = bool(config.get("release"))
RELEASE_DIR = config.get("release_dir") or "data/release"
if RELEASE and SMOKE:
    raise ValueError("config: release: true evaluates the authors' paper-scale weights; it needs scale paper")
# Released weights are of the rows themselves (not of a variant), and of the paper scale only.
RELEASE_ROWS = [] if SMOKE else [t for t in TARGETS if layout.VARIANT_SEPARATOR not in t and ZOO.row(t).get("release")]
RELEASED_METRICS = [layout.released_metrics_path(os.path.join(RUNS_DIR, row)) for row in RELEASE_ROWS]


wildcard_constraints:
    row=layout.ROW_PATTERN,


rule release_fetch:
    output:
        layout.release_marker(RELEASE_DIR, "{row}"),
    log:
        "logs/release_{row}.log",
    shell:
        "{AFA} data release {wildcards.row} --dir {RELEASE_DIR} --quiet > {log} 2>&1"


rule release_evaluate:
    input:
        data=DATA_MARKER,
        weights=rules.release_fetch.output[0],
    output:
        layout.released_metrics_path(os.path.join(RUNS_DIR, "{row}")),
    threads: config["resources"]["threads"]
    resources:
        **slurm_resources(GPU_PARTITION),
        gpu=1,
    log:
        os.path.join(RUNS_DIR, "{row}", "snakemake_release_evaluate.log"),
    shell:
        # The marker names the weights it verified; `afa test` takes it as the checkpoint.
        "{AFA} test {wildcards.row} {input.weights} --runs-root {config[runs_root]} --data-root {DATA_ROOT}"
        " --gpus {resources.gpu} > {log} 2>&1"


rule released:
    input:
        RELEASED_METRICS,
    shell:
        TABLES_CMD


def released_outputs():
    return RELEASED_METRICS if RELEASE else []
