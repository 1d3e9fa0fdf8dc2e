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
    if SMOKE:
        return 0
    return int(config.get("gpus_per_run") or row_of(run_id)["gpus"])


def result_file(name):
    return os.path.join(RESULTS_DIR, name)


def final_outputs():
    outputs = [result_file(name) for name in layout.TABLE_FILES.values()] + [result_file(layout.CURVES_FILE)]
    if config["testdev"]:
        outputs += expand(layout.testdev_manifest(os.path.join(RUNS_DIR, "{run}")), run=RUN_IDS)
    return outputs
