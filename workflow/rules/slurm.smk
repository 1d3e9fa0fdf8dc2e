# What each job asks a SLURM scheduler for (read by snakemake-executor-plugin-slurm; ignored by the local
# profiles). Partition and account come from config `slurm:` (config/config.yaml), e.g.
#   snakemake --profile workflow/profiles/slurm --config slurm="{partition: gpu, cpu_partition: cpu, account: proj42}"
# The other SLURM settings (status command, delays) and why are in workflow/profiles/slurm/config.yaml.
import getpass
import subprocess

SLURM = config.get("slurm") or {}
GPU_PARTITION = SLURM.get("partition") or ""
CPU_PARTITION = SLURM.get("cpu_partition") or GPU_PARTITION
SLURM_ACCOUNT = SLURM.get("account") or ""


def _runs_on_slurm():
    plugin = workflow.executor_plugin
    return workflow.is_main_process and plugin is not None and plugin.name.endswith("slurm")


def check_slurm_account(account):
    """Fail before submitting anything when the account is unknown to the cluster.

    The executor plugin (2.6.0) checks the account inside its submission thread, where the error is swallowed
    and Snakemake waits forever; checking here turns that into one clear line.
    """
    user = getpass.getuser()
    cmd = ["sacctmgr", "-n", "-P", "show", "associations", "user=%s" % user, "format=account"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ValueError("config slurm.account=%r: cannot list the accounts of %s with sacctmgr (%s); leave "
                         "slurm.account empty where the cluster has no accounting" % (account, user, exc))
    accounts = sorted(set(line.strip().lower() for line in out.stdout.splitlines() if line.strip()))
    if out.returncode != 0 or not accounts:
        raise ValueError("config slurm.account=%r: sacctmgr lists no account for %s (%s); leave slurm.account "
                         "empty where the cluster has no accounting"
                         % (account, user, " ".join(out.stderr.split())[:200] or "no associations"))
    if account.lower() not in accounts:
        raise ValueError("config slurm.account=%r is not an account of %s; yours: %s"
                         % (account, user, ", ".join(accounts)))


def check_slurm_account_once():
    """Called by the Snakefile's onstart (the executor is known only once the workflow runs, not while the
    Snakefile is parsed; onstart runs in the main Snakemake process before the first submission, not in dry
    runs)."""
    if SLURM_ACCOUNT and _runs_on_slurm():
        check_slurm_account(SLURM_ACCOUNT)


def slurm_resources(partition, **extra):
    """Resources naming the partition and account; empty ones are left to the cluster's defaults."""
    res = dict(extra)
    if partition:
        res["slurm_partition"] = partition
    if SLURM_ACCOUNT:
        res["slurm_account"] = SLURM_ACCOUNT
    return res


# Jobs that fit the limit. A training job asks for the smaller of its estimate and the partition's time limit
# (sinfo) or config slurm.max_runtime; a run longer than that continues in several segments of one job: the
# trainer checkpoints slurm.stop_margin_s before the limit and requeues its job (scontrol requeue: same job id,
# so Snakemake sees one job pending or running, never a failed one; afa/training/continuation/job_limit.py says why not
# sbatch --signal). --requeue makes the job requeueable where the cluster's default (JobRequeue) says no;
# --open-mode=append keeps every segment in the job's log.
STOP_MARGIN_S = int(SLURM.get("stop_margin_s") or 600)
SEGMENT_SBATCH = "--requeue --open-mode=append"


def partition_limit_min(partition):
    """The time limit in minutes of ``partition`` ("": the cluster's default, marked * by sinfo) as sinfo reports
    it; None: unlimited, unknown or no SLURM."""
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%P %l"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in out.splitlines():
        name, _, limit = line.strip().partition(" ")
        if (name.rstrip("*") == partition) if partition else name.endswith("*"):
            return _slurm_minutes(limit.strip())
    return None


def _slurm_minutes(text):
    """SLURM's [D-]HH:MM:SS, MM:SS or MM as minutes; None for infinite or anything else."""
    days, _, rest = text.partition("-") if "-" in text else ("0", "", text)
    parts = rest.split(":")
    if not days.isdigit() or not all(p.isdigit() for p in parts) or len(parts) > 3:
        return None
    parts = [int(p) for p in parts]
    hours, minutes, seconds = [0] * (3 - len(parts)) + parts if len(parts) > 1 else (0, parts[0], 0)
    return int(days) * 1440 + hours * 60 + minutes + (1 if seconds else 0)


_LIMITS = {}


def training_minutes(run_id):
    """A training job's time: the estimate `afa plan --probe --record` left in the run folder, with its margin
    (afa/planning/estimates.py), else resources.runtime_min of the row's schedule; capped as job_minutes says."""
    from afa.planning import estimates
    estimated = estimates.estimated_job_minutes(os.path.join(RUNS_DIR, run_id))
    if estimated is None and REHEARSAL:
        estimated = rehearsal.JOB_MINUTES
    if estimated is None:
        estimated = config["resources"]["runtime_min"].get(row_of(run_id)["schedule"], 60)
    return job_minutes(estimated, GPU_PARTITION)


def job_minutes(estimate_min, partition):
    """What a job asks for: its estimate, capped by slurm.max_runtime or else the partition's limit."""
    if partition not in _LIMITS:
        _LIMITS[partition] = SLURM.get("max_runtime") or partition_limit_min(partition)
    limit = _LIMITS[partition]
    return min(estimate_min, limit) if limit else estimate_min
