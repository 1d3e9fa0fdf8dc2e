# val2017 metrics (bbox, segm) and test-dev result files for the evaluation server.


rule evaluate:
    input:
        rules.train.output[0],
    output:
        run_file(layout.METRICS_FILE),
    params:
        target=lambda wc: target_of(wc.run),
        args=lambda wc: run_args(wc.run),
    threads: config["resources"]["threads"]
    resources:
        **slurm_resources(GPU_PARTITION),
        gpu=lambda wc: min(1, gpus_of(wc.run)),
    log:
        os.path.join(RUNS_DIR, "{run}", "snakemake_evaluate.log"),
    shell:
        "OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads} {AFA} test {params.target} {input} {params.args} --gpus {resources.gpu} > {log} 2>&1"


rule testdev:
    input:
        rules.train.output[0],
    output:
        layout.testdev_manifest(os.path.join(RUNS_DIR, "{run}")),
    params:
        target=lambda wc: target_of(wc.run),
        args=lambda wc: run_args(wc.run),
        out=lambda wc: layout.testdev_dir(os.path.join(RUNS_DIR, wc.run)),
    threads: config["resources"]["threads"]
    resources:
        **slurm_resources(GPU_PARTITION),
        gpu=lambda wc: min(1, gpus_of(wc.run)),
    log:
        os.path.join(RUNS_DIR, "{run}", "snakemake_testdev.log"),
    shell:
        "OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads} {AFA} test {params.target} {input} {params.args} --gpus {resources.gpu} --format-only"
        " --out {params.out} > {log} 2>&1"
