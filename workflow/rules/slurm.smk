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
