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
        afa=AFA,
        slurm_record=SLURM_RECORD,
        target=lambda wc: target_of(wc.run),
        args=lambda wc: run_args(wc.run),
        stop_margin_s=STOP_MARGIN_S,  # in a SLURM job only: checkpoint before the limit and requeue (slurm.smk)
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
        log_file("train", "run"),
    benchmark:
        benchmark_file("train")
    shell:
        "({params.slurm_record}OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads}"
        " {params.afa} train {params.target:q} {params.args:q} --gpus {resources.gpu}"
        " ${{SLURM_JOB_ID:+--stop-before-limit {params.stop_margin_s} --requeue-on-stop}}) >> {log:q} 2>&1"
