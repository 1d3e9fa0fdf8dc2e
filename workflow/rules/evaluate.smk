# val2017 metrics (bbox, segm) and test-dev result files for the evaluation server.


rule evaluate:
    input:
        os.path.join(RUNS_DIR, "{run}", "train_done.json"),
    output:
        os.path.join(RUNS_DIR, "{run}", "metrics.json"),
    params:
        target=lambda wc: target_of(wc.run),
        args=run_args(),
    threads: config["resources"]["threads"]
    resources:
        gpu=lambda wc: min(1, gpus_of(wc.run)),
    log:
        os.path.join(RUNS_DIR, "{run}", "snakemake_evaluate.log"),
    shell:
        "{AFA} test {params.target} {input} {params.args} --gpus {resources.gpu} > {log} 2>&1"


rule testdev:
    input:
        os.path.join(RUNS_DIR, "{run}", "train_done.json"),
    output:
        os.path.join(RUNS_DIR, "{run}", "test-dev", "manifest.json"),
    params:
        target=lambda wc: target_of(wc.run),
        args=run_args(),
        out=lambda wc: os.path.join(RUNS_DIR, wc.run, "test-dev"),
    threads: config["resources"]["threads"]
    resources:
        gpu=lambda wc: min(1, gpus_of(wc.run)),
    log:
        os.path.join(RUNS_DIR, "{run}", "snakemake_testdev.log"),
    shell:
        "{AFA} test {params.target} {input} {params.args} --gpus {resources.gpu} --format-only"
        " --out {params.out} > {log} 2>&1"
