# Optional (config `release: true`, paper scale): the authors' released weights of the selected rows that have
# them, fetched into `release_dir` and evaluated on val2017 into RUN/metrics_released.json, which the tables show
# in their "released weights" column. `snakemake --profile workflow/profiles/coco released` does only this (no
# training): minutes per row on one GPU. RELEASE, RELEASE_ROWS, RELEASED_METRICS: workflow/rules/common.smk.


rule release_fetch:
    output:
        layout.release_marker(RELEASE_DIR, "{row}"),
    params:
        afa=AFA,
        dir=lambda wc: RELEASE_DIR,  # one folder per row in it
    log:
        log_file("release_fetch", "row"),
    shell:
        "{params.afa} data release {wildcards.row:q} --dir {params.dir:q} --quiet > {log:q} 2>&1"


rule release_evaluate:
    input:
        data=DATA_MARKER,
        weights=rules.release_fetch.output[0],
    output:
        layout.released_metrics_path(os.path.join(RUNS_DIR, "{row}")),
    params:
        afa=AFA,
        runs_root=lambda wc: config["runs_root"],
        data_root=lambda wc, input: os.path.dirname(input.data),
    threads: config["resources"]["threads"]
    resources:
        **slurm_resources(GPU_PARTITION),
        gpu=1,
    log:
        log_file("release_evaluate", "row"),
    shell:
        # The marker names the weights it verified; `afa test` takes it as the checkpoint.
        "{params.afa} test {wildcards.row:q} {input.weights:q} --runs-root {params.runs_root:q}"
        " --data-root {params.data_root:q} --gpus {resources.gpu} > {log:q} 2>&1"


rule released:
    input:
        RELEASED_METRICS,
    params:
        afa=AFA,
        scale=SCALE,
        runs=lambda wc: RUNS_DIR,
        out=lambda wc: RESULTS_DIR,
        testdev=TESTDEV_ARGS,
    log:
        log_file("released"),
    shell:
        "{params.afa} tables --scale {params.scale} --runs {params.runs:q} --out {params.out:q} {params.testdev:q}"
        " > {log:q} 2>&1"
