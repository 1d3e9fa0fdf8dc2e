#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, for the tests of the `slurm` profile (tests/workflow/test_slurm.py,
# tests/workflow/test_slurm_segments.py).
#
#   scripts/slurm_cluster.sh start    # install slurm-wlm + munge if missing, write the config, start, wait idle
#   scripts/slurm_cluster.sh status   # the daemons and sinfo; exit 1 when the cluster is not up
#   scripts/slurm_cluster.sh env      # shell lines describing the cluster (AFA_SLURM_DIR=..., partitions)
#   scripts/slurm_cluster.sh stop     # stop the daemons by their pid files
#
# Needs root and apt (Debian/Ubuntu), no systemd: munged, slurmctld and slurmd are started by hand on 127.0.0.1.
# Everything lives in $AFA_SLURM_DIR (default /tmp/afa-slurm): config, state, spool, logs, pid files.
# /etc/slurm/slurm.conf is a symlink to the config there: the executor plugin's job step strips every SLURM_*
# variable (SLURM_CONF included) before its inner srun, so only the default path works.
#
# Two partitions:
#   cpu  (default): this machine, CPUs=nproc, its memory; runs the smoke jobs.
#   gpu           : two nodes that do not exist (gpu-paper, gpu-paper2: 8 GPUs, 64 CPUs, 512 GB each, state DOWN; two for the 2-node jobs). Jobs sent there
#                   are accepted and stay pending forever, so `scontrol show job` shows exactly what a paper-scale
#                   training job asks a real GPU cluster for (8 GPUs, its CPUs, memory and time).
# No slurmdbd: the profile's status command is squeue (see workflow/profiles/slurm/config.yaml), so MinJobAge is
# kept at 300 s (>= 3x the plugin's first status delay).
set -euo pipefail

DIR=${AFA_SLURM_DIR:-/tmp/afa-slurm}
CONF=$DIR/slurm.conf
START_TIMEOUT=${AFA_SLURM_START_TIMEOUT:-60}
HOST=$(hostname -s)

die() { echo "slurm_cluster: $*" >&2; exit 1; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_packages() {
    local missing=()
    command -v slurmctld >/dev/null || missing+=(slurm-wlm)
    command -v munged >/dev/null || missing+=(munge)
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" = 0 ] || die "${missing[*]} missing and not root: run as root (apt-get install ${missing[*]})"
    command -v apt-get >/dev/null || die "${missing[*]} missing and no apt-get: install SLURM and munge yourself"
    echo "slurm_cluster: installing ${missing[*]} (apt-get)"
    apt-get update -q >"$DIR/apt.log" 2>&1 || die "apt-get update failed, see $DIR/apt.log"
    # Package service starts are blocked here (no systemd); the daemons are started below by hand.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
        >>"$DIR/apt.log" 2>&1 || die "apt-get install ${missing[*]} failed, see $DIR/apt.log"
}

write_config() {
    local cpus mem
    cpus=$(nproc)
    # RealMemory must not exceed what slurmd measures, or the node is drained: keep 10% below it.
    mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
    [ -n "$mem" ] || die "slurmd -C printed no RealMemory"
    mem=$((mem * 9 / 10))
    mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log"
    cat >"$CONF.new" <<EOF
# Written by scripts/slurm_cluster.sh: a one-node test cluster on loopback.
ClusterName=afa
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# A requeued job waits for its credential to expire before it may start again (120 s by default): 20 s here,
# so the tests' jobs that continue in segments (tests/workflow/test_slurm_segments.py) spend minutes less waiting.
AuthInfo=cred_expire=20
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
ReturnToService=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
GresTypes=gpu
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=30
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmdSpoolDir=$DIR/spool
StateSaveLocation=$DIR/state
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
NodeName=gpu-paper NodeAddr=127.0.0.1 Port=6899 CPUs=64 RealMemory=512000 Gres=gpu:8 State=DOWN Reason=no_such_machine
NodeName=gpu-paper2 NodeAddr=127.0.0.1 Port=6898 CPUs=64 RealMemory=512000 Gres=gpu:8 State=DOWN Reason=no_such_machine
PartitionName=cpu Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=gpu-paper,gpu-paper2 MaxTime=INFINITE State=UP
EOF
    mv "$CONF.new" "$CONF"
    mkdir -p /etc/slurm
    if [ -e /etc/slurm/slurm.conf ] && [ ! -L /etc/slurm/slurm.conf ]; then
        die "/etc/slurm/slurm.conf exists and is not ours: this script only runs where no SLURM is configured"
    fi
    ln -sfn "$CONF" /etc/slurm/slurm.conf
}

start_munge() {
    pid_alive /run/munge/munged.pid && return 0
    [ -f /etc/munge/munge.key ] || { mungekey -c -k /etc/munge/munge.key && chown munge:munge /etc/munge/munge.key; }
    mkdir -p /run/munge
    chown munge:munge /run/munge
    chmod 0711 /run/munge
    runuser -u munge -- munged || die "munged did not start, see /var/log/munge/munged.log"
}

wait_idle() {
    local waited=0 state
    while :; do
        state=$(sinfo -h -n "$HOST" -o %t 2>/dev/null || true)
        case "$state" in idle|mix|alloc) return 0 ;; esac
        if [ "$waited" -ge "$START_TIMEOUT" ]; then
            die "node $HOST not idle after ${START_TIMEOUT}s (state: '${state:-no answer}'); see $DIR/log/"
        fi
        if [[ "$state" == down* || "$state" == drain* ]]; then
            scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true
        fi
        sleep 1
        waited=$((waited + 1))
    done
}

start() {
    mkdir -p "$DIR"
    install_packages
    if pid_alive "$DIR/slurmctld.pid" && pid_alive "$DIR/slurmd.pid"; then
        wait_idle
        echo "slurm_cluster: already up ($DIR)"
        return 0
    fi
    stop >/dev/null
    local t0=$SECONDS
    write_config
    start_munge
    slurmctld -c -f "$CONF" || die "slurmctld did not start, see $DIR/log/slurmctld.log"
    slurmd -f "$CONF" || die "slurmd did not start, see $DIR/log/slurmd.log"
    wait_idle
    echo "slurm_cluster: up in $((SECONDS - t0))s ($DIR; partitions cpu (default) and gpu (pending-only))"
}

stop_one() {
    local name=$1 pidfile=$2 _
    pid_alive "$pidfile" || return 0
    kill "$(cat "$pidfile")"
    for _ in $(seq 50); do pid_alive "$pidfile" || return 0; sleep 0.2; done
    die "$name (pid $(cat "$pidfile")) did not stop within 10 s"
}

stop() {
    stop_one slurmd "$DIR/slurmd.pid"
    stop_one slurmctld "$DIR/slurmctld.pid"
    stop_one munged /run/munge/munged.pid
    echo "slurm_cluster: stopped"
}

status() {
    local ok=0 d
    for d in slurmctld slurmd; do
        if pid_alive "$DIR/$d.pid"; then echo "$d: running (pid $(cat "$DIR/$d.pid"))"; else echo "$d: stopped"; ok=1; fi
    done
    if pid_alive /run/munge/munged.pid; then echo "munged: running"; else echo "munged: stopped"; ok=1; fi
    [ $ok = 0 ] && sinfo
    return $ok
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    env) echo "AFA_SLURM_DIR=$DIR"; echo "AFA_SLURM_CPU_PARTITION=cpu"; echo "AFA_SLURM_GPU_PARTITION=gpu" ;;
    *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
