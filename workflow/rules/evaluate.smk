# val2017 metrics (bbox, segm) and test-dev result files for the evaluation server.


rule evaluate:
    input:
        rules.train.output[0],
    output:
        run_file(layout.METRICS_FILE),
    params:
        afa=AFA,
        target=lambda wc: target_of(wc.run),
        args=lambda wc: AfaJudged(run_args(wc.run)),  # a changed setting is afa's to judge (common.smk)
    threads: config["resources"]["threads"]
    resources:
        **slurm_resources(GPU_PARTITION),
        gpu=lambda wc: min(1, gpus_of(wc.run)),
    log:
        log_file("evaluate", "run"),
    benchmark:
        benchmark_file("evaluate")
    shell:
        "OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads} {params.afa} test {params.target:q} {input:q}"
        " {params.args} --gpus {resources.gpu} > {log:q} 2>&1"


rule testdev:
    input:
        rules.train.output[0],
    output:
        layout.testdev_manifest(os.path.join(RUNS_DIR, "{run}")),
    params:
        afa=AFA,
        target=lambda wc: target_of(wc.run),
        args=lambda wc: AfaJudged(run_args(wc.run)),  # a changed setting is afa's to judge (common.smk)
        out=lambda wc: layout.testdev_dir(os.path.join(RUNS_DIR, wc.run)),
    threads: config["resources"]["threads"]
    resources:
        **slurm_resources(GPU_PARTITION),
        gpu=lambda wc: min(1, gpus_of(wc.run)),
    log:
        log_file("testdev", "run"),
    benchmark:
        benchmark_file("testdev")
    shell:
        "OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads} {params.afa} test {params.target:q} {input:q}"
        " {params.args} --gpus {resources.gpu} --format-only --out {params.out:q} > {log:q} 2>&1"
