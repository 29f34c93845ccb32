#!/usr/bin/env bash
# A throwaway single-node Slurm cluster (Debian 12's Slurm 22.05) for saescale's Slurm tests
# and for trying `saescale run --executor slurm` on one machine. No systemd needed: the
# daemons run as plain background processes, and everything lives under one directory.
#
#   scripts/slurm-local.sh install      apt-get the packages if missing (root)
#   scripts/slurm-local.sh up [--dbd]   fresh config + state, start slurmctld and slurmd, wait
#                                       for the node; --dbd adds MariaDB + slurmdbd (sacct works)
#   scripts/slurm-local.sh smoke        submit a few jobs and check how they end (~3 s)
#   scripts/slurm-local.sh down [--purge]  cancel every job, stop the daemons this script
#                                       started (by their pid files); --purge removes the dir
#
# Then: source "$SLURM_LOCAL_DIR/env.sh" (exports SLURM_CONF) and use sbatch, squeue, ...
#
# Environment:
#   SLURM_LOCAL_DIR   /tmp/saescale-slurm   config, state, spool, logs, pid files
#   SLURM_LOCAL_CPUS  $(nproc)              CPUs the node offers (may exceed the real cores)
#   SLURM_LOCAL_MEM   4000                  MB the node offers (memory is not scheduled)
#   SLURM_LOCAL_GPUS  2                     fake GPUs (GRES gpu); 0 for none
#   SLURM_LOCAL_PORT  17817                 slurmctld; +1 slurmd, +2 slurmdbd, +3 MariaDB
#   SLURM_LOCAL_AUTH  none                  none (any user) or munge (root)
#
# Choices and the reasons for them (see the Slurm notes the project was built from):
# - auth/none + cred/none: no munged to run; works for root and other users alike.
# - AuthInfo=cred_expire=5: a requeued job may start again 5 s after requeue, not 120 s.
# - sched_interval=1,bf_interval=1: a job whose begin time has passed starts within a second.
# - SlurmdParameters=config_overrides: the node may claim more CPUs than the machine has.
# - MinJobAge=3600: finished jobs stay visible to squeue/scontrol for an hour.
# - A fake GPU's gres File= must be a character device, else Slurm sets no CUDA_VISIBLE_DEVICES;
#   as root, one /dev/null twin per GPU (mknod), otherwise distinct existing devices.
# - policy-rc.d during install: the packages' init scripts must not start daemons without config.
set -euo pipefail

D=${SLURM_LOCAL_DIR:-/tmp/saescale-slurm}
CPUS=${SLURM_LOCAL_CPUS:-$(nproc)}
MEM=${SLURM_LOCAL_MEM:-4000}
GPUS=${SLURM_LOCAL_GPUS:-2}
PORT=${SLURM_LOCAL_PORT:-17817}
AUTH=${SLURM_LOCAL_AUTH:-none}
USER_NAME=$(id -un)
export SLURM_CONF=$D/slurm.conf

say() { echo "[slurm-local] $*" >&2; }
fail() { say "error: $*"; exit 1; }

packages() { # [--dbd]
  local list=(slurmctld slurmd slurm-client)
  [ "$AUTH" = munge ] && list+=(munge)
  [ "${1:-}" = --dbd ] && list+=(slurmdbd mariadb-server)
  echo "${list[@]}"
}

cmd_install() { # [--dbd]
  local missing=() p
  for p in $(packages "${1:-}"); do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -eq 0 ]; then return 0; fi
  [ "$(id -u)" = 0 ] || fail "missing packages (${missing[*]}) and not root to install them"
  local policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && policy=1
  fi
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ $policy = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
}

# Starts a daemon in its own session; its output goes to log/NAME.out and its pid to NAME.bgpid.
spawn() { local name=$1; shift; (setsid "$@" >"$D/log/$name.out" 2>&1 & echo $! >"$D/$name.bgpid"); }

wait_until() { # seconds what command...
  local deadline=$(($(date +%s) + $1)) what=$2; shift 2
  until timeout 5 "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "timed out waiting for $what (logs in $D/log)"
    sleep 0.1
  done
}

fake_gpus() {
  echo "AutoDetect=off" >"$D/gres.conf"
  local i dev spare=(/dev/null /dev/zero /dev/full /dev/random /dev/urandom)
  for ((i = 0; i < GPUS; i++)); do
    if [ "$(id -u)" = 0 ]; then
      dev=$D/fakegpu$i
      [ -c "$dev" ] || mknod "$dev" c 1 3
    else
      [ $i -lt ${#spare[@]} ] || fail "without root at most ${#spare[@]} fake GPUs"
      dev=${spare[$i]}
    fi
    echo "NodeName=localhost Name=gpu File=$dev" >>"$D/gres.conf"
  done
}

write_config() { # dbd(0|1)
  mkdir -p "$D"/{state,spool,log}
  local auth="AuthType=auth/none
CredType=cred/none"
  [ "$AUTH" = munge ] && auth="AuthType=auth/munge
CredType=cred/munge"
  local accounting="AccountingStorageType=accounting_storage/none"
  [ "$1" = 1 ] && accounting="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$((PORT + 2))
AccountingStorageTRES=gres/gpu"
  local gres="" node_gres=""
  if [ "$GPUS" -gt 0 ]; then fake_gpus; gres="GresTypes=gpu"; node_gres=" Gres=gpu:$GPUS"; fi
  cat >"$D/slurm.conf" <<EOF
ClusterName=saescale
SlurmctldHost=localhost
SlurmUser=$USER_NAME
SlurmdUser=$USER_NAME
$auth
AuthInfo=cred_expire=5
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1,bf_interval=1
SlurmdParameters=config_overrides
JobAcctGatherType=jobacct_gather/linux
$accounting
JobCompType=jobcomp/filetxt
JobCompLoc=$D/log/jobcomp.txt
ReturnToService=2
SlurmdTimeout=10
MinJobAge=3600
KillWait=2
InactiveLimit=0
$gres
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM$node_gres State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  if [ "$1" = 1 ]; then
    cat >"$D/slurmdbd.conf" <<EOF
$(echo "$auth" | head -n 1)
AuthInfo=cred_expire=5
DbdHost=localhost
DbdPort=$((PORT + 2))
SlurmUser=$USER_NAME
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$((PORT + 3))
StorageUser=root
StorageLoc=slurm_acct_db
LogFile=$D/log/slurmdbd.log
PidFile=$D/slurmdbd.pid
EOF
    chmod 600 "$D/slurmdbd.conf"
  fi
  echo "export SLURM_CONF=$D/slurm.conf" >"$D/env.sh"
}

start_munge() {
  # slurmdbd connections use munge's default socket whatever AuthInfo says, so root only.
  if munge -n >/dev/null 2>&1; then return 0; fi
  [ "$(id -u)" = 0 ] || fail "SLURM_LOCAL_AUTH=munge needs root; use the default auth/none"
  mkdir -p "$D/munge" /run/munge && chmod 700 "$D/munge"
  [ -f "$D/munge/munge.key" ] || { head -c 1024 /dev/urandom >"$D/munge/munge.key"; chmod 400 "$D/munge/munge.key"; }
  munged --force --key-file="$D/munge/munge.key" --pid-file="$D/munge/munged.pid" \
    --log-file="$D/log/munged.log" --seed-file="$D/munge/munge.seed"
  wait_until 10 munged munge -n
}

start_accounting() {
  local db=$D/db
  mkdir -p "$db"
  mariadb-install-db --no-defaults --user="$USER_NAME" --datadir="$db/data" \
    --auth-root-authentication-method=normal >"$D/log/mariadb-install.log" 2>&1
  # --skip-grant-tables: every local client is root; a throwaway database on 127.0.0.1 only.
  spawn mariadbd mariadbd --no-defaults --user="$USER_NAME" --datadir="$db/data" --socket="$db/mysqld.sock" \
    --port=$((PORT + 3)) --bind-address=127.0.0.1 --skip-grant-tables --pid-file="$db/mariadbd.pid" \
    --log-error="$D/log/mariadbd.err" --innodb-buffer-pool-size=64M
  wait_until 30 MariaDB mariadb --no-defaults -h 127.0.0.1 -P $((PORT + 3)) -u root -e 'select 1'
  spawn slurmdbd slurmdbd -D
  wait_until 30 slurmdbd sacctmgr -n list cluster
}

cmd_up() { # [--dbd]
  local dbd=0
  [ "${1:-}" = --dbd ] && dbd=1
  if [ -f "$D/slurmctld.pid" ] && kill -0 "$(cat "$D/slurmctld.pid")" 2>/dev/null; then
    fail "a cluster already runs from $D; stop it with: $0 down"
  fi
  cmd_install "${1:-}"
  rm -rf "$D/state" "$D/spool" "$D/log" "$D/db"   # a fresh cluster: job ids start at 1
  write_config $dbd
  [ "$AUTH" = munge ] && start_munge
  [ $dbd = 1 ] && start_accounting
  spawn slurmctld slurmctld -D -i
  spawn slurmd slurmd -D -N localhost   # -N: the node's name whatever the hostname is
  wait_until 30 "the node to be idle" sh -c "sinfo -h -n localhost -o %t | grep -qE '^(idle|mix|alloc)\$'"
  say "up ($CPUS CPUs, $GPUS fake GPUs, accounting $([ $dbd = 1 ] && echo on || echo off)); source $D/env.sh"
}

cmd_smoke() {
  mkdir -p "$D/smoke" && cd "$D/smoke"
  local ok bad arr gpu=""
  ok=$(sbatch --parsable -o ok-%j.out --wrap 'echo ok')
  bad=$(sbatch --parsable -o bad-%j.out --wrap 'exit 3')
  arr=$(sbatch --parsable --array=0-3%2 -o arr-%A_%a.out --wrap 'echo $SLURM_ARRAY_TASK_ID')
  [ "$GPUS" -gt 0 ] && gpu=$(sbatch --parsable --gres=gpu:1 -o gpu-%j.out --wrap 'echo "$CUDA_VISIBLE_DEVICES"')
  local ids="$ok,$bad,$arr${gpu:+,$gpu}" i
  for ((i = 0; i < 300; i++)); do
    squeue -h -t PD,R,CG,CF -j "$ids" 2>/dev/null | grep -q . || break
    sleep 0.1
  done
  local states
  states=" $(squeue -h -t all -j "$ids" -o '%i=%T' | tr '\n' ' ') "
  case $states in *" $ok=COMPLETED "*) ;; *) fail "smoke: $states" ;; esac
  case $states in *" $bad=FAILED "*) ;; *) fail "smoke: $states" ;; esac
  [ "$(echo "$states" | grep -o "${arr}_[0-3]=COMPLETED" | wc -l)" = 4 ] || fail "smoke: $states"
  [ -z "$gpu" ] || [ "$(cat "gpu-$gpu.out")" = 0 ] || fail "smoke: gpu job saw CUDA_VISIBLE_DEVICES=$(cat "gpu-$gpu.out")"
  say "smoke ok"
}

stop_pids() { # pid files...
  local f pid pids=() i
  for f in "$@"; do
    [ -f "$f" ] && pid=$(cat "$f") && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && pids+=("$pid")
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  kill "${pids[@]}" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 1 ] || return 0
    sleep 0.1
  done
  kill -9 "${pids[@]}" 2>/dev/null || true
}

cmd_down() { # [--purge]
  if [ ! -f "$D/slurm.conf" ]; then say "no cluster in $D"; return 0; fi
  if [ -f "$D/slurmctld.pid" ] && kill -0 "$(cat "$D/slurmctld.pid")" 2>/dev/null; then
    # A job's slurmstepd outlives slurmd: cancel jobs while the daemons still run.
    scancel --partition=debug 2>/dev/null || true
    local i
    for ((i = 0; i < 50; i++)); do squeue -h -t R,CG 2>/dev/null | grep -q . || break; sleep 0.1; done
  fi
  stop_pids "$D/slurmd.pid" "$D/slurmd.bgpid"
  stop_pids "$D/slurmctld.pid" "$D/slurmctld.bgpid"
  stop_pids "$D/slurmdbd.pid" "$D/slurmdbd.bgpid"
  stop_pids "$D/db/mariadbd.pid" "$D/mariadbd.bgpid"
  stop_pids "$D/munge/munged.pid"
  rm -f "$D"/*.bgpid
  if [ "${1:-}" = --purge ]; then rm -rf "$D"; fi
  say "down"
}

case ${1:-} in
  install) shift; cmd_install "$@" ;;
  up) shift; cmd_up "$@" ;;
  smoke) cmd_smoke ;;
  down) shift; cmd_down "$@" ;;
  *) sed -n '2,21p' "$0" >&2; exit 2 ;;
esac
