#!/usr/bin/env bash
# A single-node Slurm on this machine, for the test suite and for trying `clocks sweep --slurm=true` locally.
#
#   bash tests/slurm/local_slurm.sh start STATE_DIR   # install (root, apt-get) if missing; start munged,
#                                                     # slurmctld, slurmd; print `export SLURM_CONF=...`
#   bash tests/slurm/local_slurm.sh stop STATE_DIR    # cancel every job, wait for them, stop the daemons by pid
#
# Everything (slurm.conf, munge socket, state, spool, logs, pid files, the jobcomp file) lives in STATE_DIR, which
# must be a fresh folder that the munge user can reach (e.g. `mktemp -d` made world-readable): nothing is written
# to /etc/slurm. The node declares CLOCKS_SLURM_CPUS CPUs (default 8, more than most test machines have, so that
# packed and concurrent array tasks fit); CLOCKS_SLURM_CTLD_PORT and CLOCKS_SLURM_D_PORT set its ports (default
# 6817 and 6818, Slurm's own). Exit status 3: Slurm cannot run here (not root and not installed, or no
# apt-get); the reason is printed on stderr.
set -euo pipefail

action="${1:-}"
state="${2:-}"
if [ -z "$state" ] || { [ "$action" != start ] && [ "$action" != stop ]; }; then
  echo "usage: $0 start|stop STATE_DIR" >&2
  exit 2
fi
state="$(cd "$state" && pwd)"
conf="$state/slurm.conf"
export SLURM_CONF="$conf"

unavailable() {
  echo "local Slurm unavailable: $*" >&2
  exit 3
}

install_packages() {
  # Debian's Slurm 22.05 and munge, without their recommendations (no systemd needed).
  local missing=()
  for command in munged slurmctld slurmd sbatch; do
    command -v "$command" >/dev/null || missing+=("$command")
  done
  [ ${#missing[@]} = 0 ] && return 0
  [ "$(id -u)" = 0 ] || unavailable "${missing[*]} not installed and not root (apt-get install slurm-wlm munge)"
  command -v apt-get >/dev/null || unavailable "${missing[*]} not installed and no apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >"$state/apt.log" 2>&1 || unavailable "apt-get update failed (see $state/apt.log)"
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >>"$state/apt.log" 2>&1 \
    || unavailable "apt-get install failed (see $state/apt.log)"
}

wait_for() {  # usage: wait_for SECONDS WHAT COMMAND...: poll COMMAND every 0.2 s until it succeeds
  local tries=$(( $1 * 5 )) what="$2"; shift 2
  for _ in $(seq "$tries"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  unavailable "$what did not come up (logs in $state)"
}

start() {
  [ "$(id -u)" = 0 ] || unavailable "the daemons run as root here and this is uid $(id -u)"
  install_packages
  local host cpus
  host="$(hostname -s)"
  cpus="${CLOCKS_SLURM_CPUS:-8}"
  mkdir -p "$state/munge" "$state/ctld" "$state/spool"
  chmod 755 "$state"
  chown munge:munge "$state/munge"
  chmod 755 "$state/munge"  # munged requires its socket folder to be reachable by every user
  [ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key
  chmod 400 /etc/munge/munge.key
  runuser -u munge -- munged --socket="$state/munge/munge.socket" --pid-file="$state/munge/munged.pid" \
    --log-file="$state/munge/munged.log" --seed-file="$state/munge/munged.seed"
  cat >"$conf" <<CONF
# Written by tests/slurm/local_slurm.sh: a single-node Slurm for tests.
ClusterName=clocks
SlurmctldHost=$host
SlurmUser=root
SlurmctldPort=${CLOCKS_SLURM_CTLD_PORT:-6817}
SlurmdPort=${CLOCKS_SLURM_D_PORT:-6818}
AuthType=auth/munge
AuthInfo=socket=$state/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1,sched_interval=2
JobRequeue=1
MinJobAge=3600
KillWait=30
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$state/jobcomp.txt
MailProg=/bin/true
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
NodeName=$host CPUs=$cpus Boards=1 SocketsPerBoard=1 CoresPerSocket=$cpus ThreadsPerCore=1 State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  slurmctld -f "$conf"
  slurmd -f "$conf"
  wait_for 30 "slurmctld" scontrol ping
  wait_for 30 "the node" sh -c "sinfo -h -o %T | grep -Eq '^(idle|mixed|allocated)'"
  echo "export SLURM_CONF=$conf"
}

stop_pid() {  # usage: stop_pid PIDFILE: SIGTERM the daemon in PIDFILE and wait up to 10 s for it to end
  local pid
  pid="$(cat "$1" 2>/dev/null)" || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  kill -KILL "$pid" 2>/dev/null || true
}

stop() {
  if [ -f "$state/slurmctld.pid" ] && scontrol ping >/dev/null 2>&1; then
    # proctrack/linuxproc: a job outlives slurmd, so cancel every job and wait for them first.
    scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
    for _ in $(seq 150); do
      [ -z "$(squeue -h -t running,completing,configuring -o %i 2>/dev/null)" ] && break
      sleep 0.2
    done
  fi
  stop_pid "$state/slurmd.pid"
  stop_pid "$state/slurmctld.pid"
  stop_pid "$state/munge/munged.pid"
}

"$action"
