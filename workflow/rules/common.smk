# Shared definitions: which runs the config selects, where their files live, how to call `afa`, and the
# functions the rules use (kept here so that the rule files hold rules only).
# Shell commands take every value through `params:` and quote every path ({params.x:q}, {log:q}): a runs_root
# or results_root with a space works.
import os
import shlex
import sys

from afa.runs import layout, rehearsal
from afa.runs.folder import RunFolder
from afa.runs import workflow_config, zoo as zoo_mod
from afa.training.alarm import reference as alarm_reference
from afa.training.continuation import signals
from afa.data.pretrained import files_for_backbone
from afa.training.launch import torchrun_command

ZOO = zoo_mod.load()
SCALE = config["scale"]
SMOKE = SCALE == "smoke"
# The rehearsal (config scale: rehearsal, the one switch on any profile): the paper's recipes for a few steps on
# its own COCO-shaped set and backbone files (afa/runs/rehearsal.py), whatever `data` and `pretrained_dir` say.
REHEARSAL = SCALE == "rehearsal"
if not REHEARSAL and SMOKE != (config["data"]["source"] == "synthetic"):
    raise ValueError(
        "config: scale %r needs data.source %r, got %r (smoke runs use the synthetic dataset, paper runs COCO)"
        % (SCALE, "synthetic" if SMOKE else "coco", config["data"]["source"])
    )
# The `afa` command of the environment that trains (the Docker image sets it to the paper environment's Python):
# a command line, not a path, so it is used unquoted.
AFA = config.get("afa_command") or "%s -m afa.cli" % shlex.quote(sys.executable)
RUNS_DIR = layout.runs_dir(config["runs_root"], SCALE)
RESULTS_DIR = layout.results_dir(config["results_root"], SCALE)
# Folders with a trailing separator, as `afa` records them.
DATA_ROOT = os.path.join(os.path.normpath(rehearsal.DATA_ROOT if REHEARSAL else config["data"]["root"]), "")
# The real weights' cache; the rehearsal's folder links to them or holds stand-ins (`afa data standin`).
REAL_PRETRAINED_DIR = os.path.join(os.path.normpath(config["pretrained_dir"]), "")
PRETRAINED_DIR = rehearsal.PRETRAINED_DIR if REHEARSAL else REAL_PRETRAINED_DIR
DATA_MARKER = os.path.join(DATA_ROOT, layout.COCO_VERIFIED if SCALE == "paper" else layout.SYNTHETIC_MARKER)
PRECISION = config["precision"]
SEEDS = config.get("seeds") or [layout.DEFAULT_SEED]
TESTDEV_CSV = config.get("testdev_scores") or ""
# The tables' test-dev option: arguments, quoted one by one in the shell command ({params.testdev:q}).
TESTDEV_ARGS = ["--testdev-scores", TESTDEV_CSV] if TESTDEV_CSV and SCALE == "paper" else []
# Logs and Snakemake benchmark records of this scale's jobs (the runs' own training logs stay in their folders).
LOG_DIR = os.path.join("logs", SCALE)
# First line of every GPU job's log: what the scheduler granted (GPUs, CPUs, memory, time limit, node).
SLURM_RECORD = (
    'if [ -n "${SLURM_JOB_ID:-}" ] && command -v scontrol >/dev/null; then'
    ' scontrol show job "$SLURM_JOB_ID" || true; fi; '
)


# ROW or ROW+VARIANT names from config: explicit rows (unknown ones fail here, with a suggestion), else every row
# of the chosen tables.
TARGETS = workflow_config.selected_targets(config, ZOO)
RUN_IDS = [layout.run_id(t, PRECISION, seed) for t in TARGETS for seed in SEEDS]

# Optional (config `release: true`, paper scale): the authors' released weights of the selected rows
# (workflow/rules/release.smk).
RELEASE = bool(config.get("release"))
RELEASE_DIR = config.get("release_dir") or "data/release"
if RELEASE and SCALE != "paper":
    raise ValueError("config: release: true evaluates the authors' paper-scale weights; it needs scale paper")
# Released weights are of the rows themselves (not of a variant), and of the paper scale only.
RELEASE_ROWS = [] if SCALE != "paper" else [t for t in TARGETS if layout.VARIANT_SEPARATOR not in t and ZOO.row(t).get("release")]
RELEASED_METRICS = [layout.released_metrics_path(os.path.join(RUNS_DIR, row)) for row in RELEASE_ROWS]


wildcard_constraints:
    run=layout.RUN_ID_PATTERN,
    row=layout.ROW_PATTERN,


def target_of(run_id):
    return layout.parse_run_id(run_id).target


def seed_of(run_id):
    return layout.parse_run_id(run_id).seed


def run_file(name):
    """A file of the run folder ``{run}``, named by afa.runs.layout (the rules' one source of file names)."""
    return os.path.join(RUNS_DIR, "{run}", name)


def log_file(rule, wildcard=None):
    """logs/SCALE/RULE.log, or logs/SCALE/RULE/{WILDCARD}.log for a rule with one job per run or row."""
    if wildcard is None:
        return os.path.join(LOG_DIR, "%s.log" % rule)
    return os.path.join(LOG_DIR, rule, "{%s}.log" % wildcard)


def benchmark_file(rule):
    """Snakemake's record of a job's cost (seconds, memory, CPU): logs/SCALE/benchmark/RULE/{run}.tsv."""
    return os.path.join(LOG_DIR, "benchmark", rule, "{run}.tsv")


def row_of(run_id):
    return ZOO.lookup(target_of(run_id))[0]


def train_priority(wildcards):
    """References first: the alarm's reference runs train before the runs compared with them."""
    return alarm_reference.training_priority(row_of(wildcards.run), seed_of(wildcards.run))


class AfaJudged(object):
    """The settings part of a per-run shell command (what `afa train|test` is asked): its shell text when the
    command is formatted, but none of Snakemake's own parameter types, so Snakemake does not compare it with the
    invocation that made the run's files. Whether a finished run's settings changed is afa's to judge (train:
    the fingerprint; test: the evaluation record), which refuse with the way out (--retrain, another --out);
    Snakemake's "params have changed" would delete the finished run's train_done.json or metrics.json before
    asking, leaving the row without them when afa then refuses. So a finished run is skipped, as the banner says."""

    def __init__(self, words):
        self.text = words if isinstance(words, str) else " ".join(shlex.quote(w) for w in words)

    def __str__(self):
        return self.text

    def __format__(self, spec):
        return self.text


def run_args(run_id):
    """The `afa train|test` options of a run, as a list (quoted one by one in the shell command)."""
    args = ["--runs-root", config["runs_root"], "--data-root", DATA_ROOT, "--precision", PRECISION,
            "--seed", str(seed_of(run_id))]
    if SMOKE:
        return args + ["--smoke", "--smoke-epochs", str(config["smoke_epochs"])]
    return args + (["--rehearsal"] if REHEARSAL else []) + ["--pretrained-dir", PRETRAINED_DIR]


def gpus_of(run_id):
    """GPUs per node of a training run (0 at the smoke scale: CPU)."""
    if SMOKE:
        return 0
    if REHEARSAL:
        return int(config.get("rehearsal_gpus", 1))
    return int(config.get("gpus_per_run") or row_of(run_id)["gpus"])


def nodes_of(run_id):
    return 1 if SCALE != "paper" else int(config.get("nodes_per_run") or 1)


# Validation after every epoch (config `validate`, at both scales): the curves' AP, afa status and the early alarm.
VALIDATE_ARG = "--validate" if config.get("validate", True) else "--no-validate"


def layout_args(run_id):
    """The batch layout options of `afa train` and `afa plan` for a run (the same refusal in both)."""
    args = ["--gpus", str(gpus_of(run_id))]
    if nodes_of(run_id) > 1:
        args += ["--nodes", str(nodes_of(run_id))]
    if config.get("max_imgs_per_gpu"):
        args += ["--max-imgs-per-gpu", str(config["max_imgs_per_gpu"])]
    return args


RDZV_PORT = 29400


def announce_training_layout():
    """Every start (dry runs included) says how the runs will train on these GPUs, and refuses a layout that
    cannot make the rows' batch before any job runs (afa plan ROW --gpus G prints the details)."""
    from afa.planning.plan import plan_batch
    from afa.runs.zoo import recipe_batch
    from afa.utils.errors import AfaError
    if SCALE != "paper" or not workflow.is_main_process:
        return
    seen = set()
    for row in [ZOO.lookup(t)[0] for t in TARGETS]:
        key = (recipe_batch(row), int(config.get("gpus_per_run") or row["gpus"]))
        if key in seen:
            continue
        seen.add(key)
        try:
            plan = plan_batch(key[0], key[1], int(config.get("nodes_per_run") or 1),
                              max_imgs_per_gpu=config.get("max_imgs_per_gpu"))
        except AfaError as e:
            raise ValueError("config gpus_per_run/nodes_per_run: %s" % e)
        print("afa: training layout: %s = %d images per optimizer step (details: afa plan ROW --gpus %d%s)"
              % (plan.describe(), plan.effective_batch, key[1],
                 " --nodes %d" % plan.nodes if plan.nodes > 1 else ""), file=sys.stderr)


announce_training_layout()


def train_job_shape():
    """What a training job asks the scheduler for besides partition, memory and time: one node and its GPUs
    (one task: torchrun starts a worker per GPU), or nodes_per_run nodes with their GPUs as gres per node, one
    task per node, and the srun in the command itself (mpi: the plugin's job step does not wrap it in its own).

    One task per node is spelled tasks=nodes, not tasks_per_node=1: the plugin (2.6.0) refuses an mpi job with
    tasks_per_node <= 1, and it refuses inside its submission thread, where Snakemake swallows the error and
    waits forever. sbatch --nodes N --ntasks N places one task on each node."""
    nodes = nodes_of(None)
    if nodes == 1:
        return dict(nodes=1, tasks_per_gpu=0, gpu=lambda wc: gpus_of(wc.run))
    return dict(nodes=nodes, tasks_per_gpu=0, tasks=nodes, mpi="srun",
                gres=lambda wc: "gpu:%d" % gpus_of(wc.run))


def train_command(run_id):
    """`afa train` on one node, or on several: one srun task per node, each starting torchrun, which meets the
    others at a c10d rendezvous on the job's first node (rank 0 is not necessarily on MASTER_ADDR's node)."""
    options = [target_of(run_id)] + run_args(run_id) + layout_args(run_id) + [VALIDATE_ARG]
    command = "%s train %s" % (AFA, " ".join(shlex.quote(a) for a in options))
    if REHEARSAL:
        # The stop drill: a continuation checkpoint after STOP_AFTER_ITER steps (exit CONTINUE_EXIT_CODE), then the
        # same command resumes it (the drill fires once per run: its iteration is then behind it).
        return "%s=%d %s || [ $? -eq %d ] && %s" % (
            signals.DRILL_ENV, rehearsal.STOP_AFTER_ITER, command, layout.CONTINUE_EXIT_CODE, command)
    if nodes_of(run_id) == 1:
        return command
    python, _, module = AFA.partition(" -m ")
    if module.strip() != "afa.cli":
        raise ValueError("nodes_per_run > 1 needs afa_command of the form 'PYTHON -m afa.cli' (torchrun starts "
                         "the module), not %r" % AFA)
    # The launcher of one node, with the rendezvous the shell finds: the job's id and its first node.
    shell = {"@JOB@": '"$SLURM_JOB_ID"',
             "@FIRST_NODE@": '"$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1):%d"' % RDZV_PORT}
    argv = ["train"] + options
    launcher = torchrun_command(gpus_of(run_id), argv, nodes=nodes_of(run_id), rendezvous="@FIRST_NODE@",
                                rendezvous_id="@JOB@", python="@PYTHON@")
    words = [shell.get(a, shlex.quote(a)) for a in launcher]
    return "srun --ntasks-per-node=1 --kill-on-bad-exit=1 %s" % " ".join(words).replace("@PYTHON@", python, 1)


def result_file(name):
    return os.path.join(RESULTS_DIR, name)


def pretrained_inputs(wildcards):
    """The backbone weights a run loads (smoke runs train from scratch; the rehearsal's are in its own folder)."""
    if SMOKE:
        return []
    return [os.path.join(PRETRAINED_DIR, name) for name in files_for_backbone(row_of(wildcards.run)["backbone"])]


def data_synthetic_args():
    """`afa data synthetic` options: the smoke set's (config data.synthetic) or the rehearsal's COCO-shaped one."""
    if REHEARSAL:
        return ["--coco-like", "--train", str(rehearsal.TRAIN_IMAGES), "--val", str(rehearsal.VAL_IMAGES),
                "--test", str(rehearsal.TEST_IMAGES)]
    s = config["data"].get("synthetic", {})
    return ["--train", str(s["train"]), "--val", str(s["val"]), "--test", str(s["test"]), "--height",
            str(s["height"]), "--width", str(s["width"]), "--seed", str(s["seed"])]


def pretrained_command(name):
    """The `afa data` arguments that put one backbone file in place: the real download, or at the rehearsal a
    link to it where it is cached, else a stand-in."""
    if REHEARSAL:
        return ["standin", "--dir", PRETRAINED_DIR, "--real-dir", REAL_PRETRAINED_DIR, "--names", name]
    return ["pretrained", "--dir", PRETRAINED_DIR, "--names", name]


def final_outputs():
    outputs = [result_file(name) for name in layout.TABLE_FILES.values()] + [result_file(layout.CURVES_FILE)]
    if config["testdev"]:
        outputs += expand(layout.testdev_manifest(os.path.join(RUNS_DIR, "{run}")), run=RUN_IDS)
    return outputs


def released_outputs():
    return RELEASED_METRICS if RELEASE else []


def _runs_in(state):
    return [run for run in RUN_IDS if state(os.path.join(RUNS_DIR, run))]


def run_status_report():
    """What this invocation will do, from the runs' marker files: which runs train, which only evaluate, which
    are done (printed at the start of the workflow log)."""
    trained = _runs_in(lambda d: RunFolder(d).is_trained())
    evaluated = _runs_in(lambda d: RunFolder(d).is_evaluated())
    to_train = [r for r in RUN_IDS if r not in trained]
    to_evaluate = [r for r in trained if r not in evaluated]
    lines = ["AFA workflow: %d run(s) of the %s scale in %s" % (len(RUN_IDS), SCALE, RUNS_DIR),
             "  to train and evaluate (%d): %s" % (len(to_train), " ".join(to_train) or "-"),
             "  trained, to evaluate (%d): %s" % (len(to_evaluate), " ".join(to_evaluate) or "-"),
             "  trained and evaluated, skipped (%d): %s" % (len(evaluated), " ".join(evaluated) or "-"),
             "  (a finished run is not retrained or re-evaluated when a setting changes: `afa train --retrain` "
             "replaces one, never deleting it)",
             watch_line()]
    return "\n".join(lines)


def watch_line():
    """How to follow the runs while they train (afa status reads the run folders; TensorBoard their event files)."""
    return "Run states: afa status --scale %s --runs-root %s; live curves: tensorboard --logdir %s" % (
        SCALE, shlex.quote(config["runs_root"]), shlex.quote(RUNS_DIR))


def results_report(failed=False):
    """Where the tables, figures and curves are (printed at the end of the workflow log)."""
    names = list(layout.TABLE_FILES.values()) + [layout.CURVES_FILE]
    present = [result_file(n) for n in names if os.path.exists(result_file(n))]
    if failed:
        head = ("AFA workflow stopped before it finished; the tables were not regenerated. Last complete "
                "results (%d of %d files) in %s" % (len(present), len(names), RESULTS_DIR))
    else:
        head = "AFA workflow finished: tables, figures and curves in %s" % RESULTS_DIR
    return "\n".join([head] + ["  %s" % p for p in present] + [watch_line()])
