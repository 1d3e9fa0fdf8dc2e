# Datasets and pretrained weights.


rule data_synthetic:
    output:
        os.path.join(DATA_ROOT, layout.SYNTHETIC_MARKER),
    params:
        afa=AFA,
        root=lambda wc, output: os.path.dirname(output[0]),
        args=lambda wc: data_synthetic_args(),  # the smoke set's or the rehearsal's COCO-shaped one (common.smk)
    resources:
        **slurm_resources(CPU_PARTITION),
    log:
        log_file("data_synthetic"),
    shell:
        "{params.afa} data synthetic --root {params.root:q} {params.args:q} > {log:q} 2>&1"


rule data_coco:
    output:
        os.path.join(DATA_ROOT, layout.COCO_VERIFIED),
    params:
        afa=AFA,
        root=lambda wc, output: os.path.dirname(output[0]),
        parts=config["data"].get("coco_parts", []),
    resources:
        **slurm_resources(CPU_PARTITION),
        runtime=720,
    log:
        log_file("data_coco"),
    shell:
        "{params.afa} data coco --root {params.root:q} --parts {params.parts:q} > {log:q} 2>&1"


rule pretrained:
    output:
        os.path.join(PRETRAINED_DIR, "{weights}.pth"),
    params:
        afa=AFA,
        args=lambda wc: pretrained_command(wc.weights + ".pth"),  # at the rehearsal: real file or stand-in
    resources:
        **slurm_resources(CPU_PARTITION),
    log:
        log_file("pretrained", "weights"),
    shell:
        "{params.afa} data {params.args:q} > {log:q} 2>&1"
