# One training job per run. The job's output appears only when training finished; a killed job leaves its
# checkpoints, and the rerun (snakemake --rerun-incomplete, set in the profiles) resumes from the newest one.
# OMP_NUM_THREADS = the job's threads (here and in the evaluation rules): CPU jobs that share the cores never
# oversubscribe them (oversubscribed OpenMP threads spin, which made smoke jobs several times slower).


rule train:
    input:
        data=DATA_MARKER,
        pretrained=pretrained_inputs,
    output:
        run_file(layout.DONE_FILE),
    params:
        target=lambda wc: target_of(wc.run),
        args=lambda wc: run_args(wc.run),
    threads: config["resources"]["threads"]
    resources:
        # One node, one task (torchrun starts a worker per GPU): without tasks_per_gpu=0 the plugin asks for
        # --ntasks-per-gpu=1, i.e. 8 tasks x the CPUs below.
        **slurm_resources(GPU_PARTITION, nodes=1, tasks_per_gpu=0),
        gpu=lambda wc: gpus_of(wc.run),
        mem_mb=config["resources"]["mem_mb"],
        runtime=lambda wc: job_minutes(config["resources"]["runtime_min"].get(row_of(wc.run)["schedule"], 60),
                                       GPU_PARTITION),
        slurm_extra=SEGMENT_SBATCH,
    log:
        os.path.join(RUNS_DIR, "{run}", "snakemake_train.log"),
    shell:
        "({SLURM_RECORD}OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads} {AFA} train {params.target} {params.args}"
        " --gpus {resources.gpu} ${{SLURM_JOB_ID:+--stop-before-limit {STOP_MARGIN_S} --requeue-on-stop}}) >> {log} 2>&1"
