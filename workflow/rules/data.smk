# Datasets and pretrained weights.
DATA_MARKER = DATA_ROOT + (layout.SYNTHETIC_MARKER if SMOKE else layout.COCO_VERIFIED)


rule data_synthetic:
    output:
        DATA_ROOT + layout.SYNTHETIC_MARKER,
    params:
        s=config["data"].get("synthetic", {}),
    resources:
        **slurm_resources(CPU_PARTITION),
    log:
        "logs/data_synthetic.log",
    shell:
        "{AFA} data synthetic --root {DATA_ROOT} --train {params.s[train]} --val {params.s[val]}"
        " --test {params.s[test]} --height {params.s[height]} --width {params.s[width]} --seed {params.s[seed]}"
        " > {log} 2>&1"


rule data_coco:
    output:
        DATA_ROOT + layout.COCO_VERIFIED,
    params:
        parts=" ".join(config["data"].get("coco_parts", [])),
    resources:
        **slurm_resources(CPU_PARTITION),
        runtime=720,
    log:
        "logs/data_coco.log",
    shell:
        "{AFA} data coco --root {DATA_ROOT} --parts {params.parts} > {log} 2>&1"


rule pretrained:
    output:
        PRETRAINED_DIR + "{weights}.pth",
    resources:
        **slurm_resources(CPU_PARTITION),
    log:
        "logs/pretrained_{weights}.log",
    shell:
        "{AFA} data pretrained --dir {PRETRAINED_DIR} --names {wildcards.weights}.pth > {log} 2>&1"


def pretrained_inputs(wildcards):
    """The backbone weights a paper-scale run loads (smoke runs train from scratch)."""
    if SMOKE:
        return []
    return [PRETRAINED_DIR + name for name in files_for_backbone(row_of(wildcards.run)["backbone"])]
