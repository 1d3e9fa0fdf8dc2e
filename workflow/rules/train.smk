# One training job per run. The job's output appears only when training finished; a killed job leaves its
# checkpoints, and the rerun (snakemake --rerun-incomplete, set in the profiles) resumes from the newest one.
# OMP_NUM_THREADS = the job's threads (here and in the evaluation rules): CPU jobs that share the cores never
# oversubscribe them (oversubscribed OpenMP threads spin, which made smoke jobs several times slower).
# The job's output goes to logs/SCALE/train/RUN.log (appended: a run continued in segments keeps every one);
# training's own log stays in the run folder.


rule train:
    input:
        data=DATA_MARKER,
        pretrained=pretrained_inputs,
    output:
        run_file(layout.DONE_FILE),
    params:
        slurm_record=SLURM_RECORD,
        command=lambda wc: AfaJudged(train_command(wc.run)),  # quoted argument by argument; afa judges changes
        stop_margin_s=STOP_MARGIN_S,  # in a SLURM job only: checkpoint before the limit and requeue (slurm.smk)
    threads: config["resources"]["threads"]
    priority: train_priority
    resources:
        # One task per node (torchrun starts a worker per GPU): without tasks_per_gpu=0 the plugin asks for
        # --ntasks-per-gpu=1, i.e. 8 tasks x the CPUs below. Several nodes (nodes_per_run): GPUs per node as
        # gres, one task per node, and the plugin's job step leaves the srun to the command (mpi).
        **slurm_resources(GPU_PARTITION, **train_job_shape()),
        mem_mb=config["resources"]["mem_mb"],
        runtime=lambda wc: training_minutes(wc.run),
        slurm_extra=SEGMENT_SBATCH,
    log:
        log_file("train", "run"),
    benchmark:
        benchmark_file("train")
    shell:
        "({params.slurm_record}export OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads}; {params.command}"
        " ${{SLURM_JOB_ID:+--stop-before-limit {params.stop_margin_s} --requeue-on-stop}}) >> {log:q} 2>&1"
