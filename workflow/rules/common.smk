# Shared definitions: which runs the config selects, where their files live, how to call `afa`.
import os
import shlex
import sys

from afa.runs import layout
from afa.runs import zoo as zoo_mod
from afa.data.pretrained import files_for_backbone

ZOO = zoo_mod.load()
SCALE = config["scale"]
SMOKE = SCALE == "smoke"
if SMOKE != (config["data"]["source"] == "synthetic"):
    raise ValueError(
        "config: scale %r needs data.source %r, got %r (smoke runs use the synthetic dataset, paper runs COCO)"
        % (SCALE, "synthetic" if SMOKE else "coco", config["data"]["source"])
    )
# The `afa` command of the environment that trains (the Docker image sets it to the paper environment's Python).
AFA = config.get("afa_command") or "%s -m afa.cli" % shlex.quote(sys.executable)
RUNS_DIR = layout.runs_dir(config["runs_root"], SCALE)
RESULTS_DIR = layout.results_dir(config["results_root"], SCALE)
DATA_ROOT = config["data"]["root"].rstrip("/") + "/"
PRETRAINED_DIR = config["pretrained_dir"].rstrip("/") + "/"
PRECISION = config["precision"]
SEEDS = config.get("seeds") or [layout.DEFAULT_SEED]
TESTDEV_CSV = config.get("testdev_scores") or ""
TESTDEV_ARG = "--testdev-scores %s" % shlex.quote(TESTDEV_CSV) if TESTDEV_CSV and not SMOKE else ""
# The table regeneration, shared by the tables rule and the onerror handler (tables of what exists).
TABLES_CMD = "%s tables --scale %s --runs %s --out %s %s" % (AFA, SCALE, RUNS_DIR, RESULTS_DIR, TESTDEV_ARG)


def selected_targets():
    """ROW or ROW+VARIANT names from config: explicit rows, else every row of the chosen tables."""
    if config["rows"]:
        for name in config["rows"]:
            ZOO.lookup(name)  # unknown rows and variants fail here, with a suggestion
        return list(config["rows"])
    return [r.id for r in ZOO.select(tables=config["tables"])]


TARGETS = selected_targets()
RUN_IDS = [layout.run_id(t, PRECISION, seed) for t in TARGETS for seed in SEEDS]


wildcard_constraints:
    run=layout.RUN_ID_PATTERN,


def target_of(run_id):
    return layout.parse_run_id(run_id).target


def seed_of(run_id):
    return layout.parse_run_id(run_id).seed


def run_file(name):
    """A file of the run folder ``{run}``, named by afa.runs.layout (the rules' one source of file names)."""
    return os.path.join(RUNS_DIR, "{run}", name)


def row_of(run_id):
    return ZOO.lookup(target_of(run_id))[0]


def run_args(run_id):
    args = "--runs-root %s --data-root %s --precision %s --seed %d" % (
        config["runs_root"], DATA_ROOT, PRECISION, seed_of(run_id))
    if SMOKE:
        return args + " --smoke --smoke-epochs %d" % config["smoke_epochs"]
    return args + " --pretrained-dir %s" % PRETRAINED_DIR


def gpus_of(run_id):
    """GPUs per node of a training run (0 at the smoke scale: CPU)."""
    if SMOKE:
        return 0
    return int(config.get("gpus_per_run") or row_of(run_id)["gpus"])


def nodes_of(run_id):
    return 1 if SMOKE else int(config.get("nodes_per_run") or 1)


def layout_args(run_id):
    """The batch layout options of `afa train` and `afa plan` for a run (the same refusal in both)."""
    args = "--gpus %d" % gpus_of(run_id)
    if nodes_of(run_id) > 1:
        args += " --nodes %d" % nodes_of(run_id)
    if config.get("max_imgs_per_gpu"):
        args += " --max-imgs-per-gpu %d" % config["max_imgs_per_gpu"]
    return args


RDZV_PORT = 29400


def announce_training_layout():
    """Every start (dry runs included) says how the runs will train on these GPUs, and refuses a layout that
    cannot make the rows' batch before any job runs (afa plan ROW --gpus G prints the details)."""
    from afa.planning.batch import row_batch, split
    from afa.utils.errors import AfaError
    if SMOKE or not workflow.is_main_process:
        return
    seen = set()
    for row in [ZOO.lookup(t)[0] for t in TARGETS]:
        key = (row_batch(row), int(config.get("gpus_per_run") or row["gpus"]))
        if key in seen:
            continue
        seen.add(key)
        try:
            plan = split(key[0], key[1], int(config.get("nodes_per_run") or 1), config.get("max_imgs_per_gpu"))
        except AfaError as e:
            raise ValueError("config gpus_per_run/nodes_per_run: %s" % e)
        print("afa: training layout: %s = %d images per optimizer step (details: afa plan ROW --gpus %d%s)"
              % (plan.describe(), plan.effective_batch, key[1],
                 " --nodes %d" % plan.nodes if plan.nodes > 1 else ""), file=sys.stderr)


announce_training_layout()


def train_job_shape():
    """What a training job asks the scheduler for besides partition, memory and time: one node and its GPUs
    (one task: torchrun starts a worker per GPU), or nodes_per_run nodes with their GPUs as gres per node, one
    task per node, and the srun in the command itself (mpi: the plugin's job step does not wrap it in its own)."""
    nodes = 1 if SMOKE else int(config.get("nodes_per_run") or 1)
    if nodes == 1:
        return dict(nodes=1, tasks_per_gpu=0, gpu=lambda wc: gpus_of(wc.run))
    return dict(nodes=nodes, tasks_per_gpu=0, tasks_per_node=1, mpi="srun",
                gres=lambda wc: "gpu:%d" % gpus_of(wc.run))


def train_command(run_id):
    """`afa train` on one node, or on several: one srun task per node, each starting torchrun, which meets the
    others at a c10d rendezvous on the job's first node (rank 0 is not necessarily on MASTER_ADDR's node)."""
    command = "%s train %s %s %s" % (AFA, target_of(run_id), run_args(run_id), layout_args(run_id))
    if nodes_of(run_id) == 1:
        return command
    python, _, module = AFA.partition(" -m ")
    if module.strip() != "afa.cli":
        raise ValueError("nodes_per_run > 1 needs afa_command of the form 'PYTHON -m afa.cli' (torchrun starts "
                         "the module), not %r" % AFA)
    return (
        'srun --ntasks-per-node=1 --kill-on-bad-exit=1 %s -m torch.distributed.run --nnodes %d '
        '--nproc_per_node %d --rdzv_backend c10d --rdzv_id "$SLURM_JOB_ID" '
        '--rdzv_endpoint "$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1):%d" -m afa.cli train %s %s %s '
        '--launcher pytorch' % (python, nodes_of(run_id), gpus_of(run_id), RDZV_PORT, target_of(run_id),
                                run_args(run_id), layout_args(run_id)))


def result_file(name):
    return os.path.join(RESULTS_DIR, name)


def final_outputs():
    outputs = [result_file(name) for name in layout.TABLE_FILES.values()] + [result_file(layout.CURVES_FILE)]
    if config["testdev"]:
        outputs += expand(layout.testdev_manifest(os.path.join(RUNS_DIR, "{run}")), run=RUN_IDS)
    return outputs
