#!/usr/bin/env bash
# Start a real single-node Slurm 22.05 cluster on this machine, without systemd:
# munge, MariaDB + slurmdbd (accounting, so `sacct` works), slurmctld and slurmd.
#
# Idempotent: installs the Debian packages when missing, reuses what is already running
# (a warm call takes well under a second: every managed daemon is checked by pid file +
# `kill -0` + process name, munge/scontrol/sinfo/sacct are probed; whatever is missing or
# does not answer is (re)started, the rest is kept). All state lives under $ARCHLAB_SLURM_DIR
# (default: <repo>/.work/slurm). Prints the environment clients need on stdout as
# KEY=VALUE lines (SLURM_CONF=...); everything else goes to stderr.
#
# Knobs (environment): ARCHLAB_SLURM_CPUS (node CPUs, default 32; may exceed the real cores),
# ARCHLAB_SLURM_NO_ACCOUNTING=1 (skip MariaDB/slurmdbd), ARCHLAB_SLURM_DB_PORT (3307),
# ARCHLAB_SLURM_PORT_BASE (6817: slurmctld; +1 slurmd; +2 slurmdbd).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${ARCHLAB_SLURM_DIR:-$repo/.work/slurm}
cpus=${ARCHLAB_SLURM_CPUS:-32}
accounting=1
[ "${ARCHLAB_SLURM_NO_ACCOUNTING:-0}" = "1" ] && accounting=0
db_port=${ARCHLAB_SLURM_DB_PORT:-3307}
port=${ARCHLAB_SLURM_PORT_BASE:-6817}
cluster=archlab
conf=$dir/etc/slurm.conf
host=$(hostname -s)

log() { echo "slurm-up: $*" >&2; }
die() { echo "slurm-up: $*" >&2; exit 1; }
# running PID: the process exists and is not a zombie (a killed daemon whose parent is
# init can linger as a zombie for a while, and `kill -0` succeeds on zombies).
running() {
  local st
  kill -0 "$1" 2>/dev/null && st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  st=${st##*) }
  [ "${st%% *}" != Z ]
}
# pid_alive PIDFILE [NAME]: the pid in PIDFILE runs (and, given NAME, is that program:
# a stale pid file whose pid was reused by another process does not count).
pid_alive() {
  local pid
  [ -f "$1" ] && pid=$(cat "$1" 2>/dev/null) && [ -n "$pid" ] && running "$pid" || return 1
  [ -z "${2:-}" ] || [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ]
}
munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
# sacct answers without an error (slurmdbd up and connected to MariaDB); sacct may exit 0
# after "Problem talking to the database", so anything on stderr counts as a failure.
sacct_ok() {
  local err
  err=$(SLURM_CONF=$conf timeout 10 sacct -n -X -S now -o JobID 2>&1 >/dev/null) && [ -z "$err" ]
}
node_ok() { SLURM_CONF=$conf timeout 10 sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; }

emit_env() {
  echo "SLURM_CONF=$conf"
  echo "ARCHLAB_SLURM_ACCOUNTING=$accounting"
  echo "ARCHLAB_SLURM_DIR=$dir"
}

# A key of this script and its knobs: a warm cluster started by another version is restarted.
key="$(sha256sum "$0" | cut -c1-16)-$cpus-$accounting-$port-$db_port"

# ---------------------------------------------------------------- warm path
# warm_problem prints the first thing that is not up (nothing when all is): every daemon
# this script manages, then cheap client probes (each a few milliseconds).
warm_problem() {
  [ -f "$conf" ] || { echo "no configuration"; return; }
  [ "$(cat "$dir/run/key" 2>/dev/null)" = "$key" ] || { echo "script or knobs changed"; return; }
  command -v scontrol >/dev/null || { echo "slurm is not installed"; return; }
  munge_ok || { echo "munged does not answer"; return; }
  if [ $accounting = 1 ]; then
    pid_alive "$dir/run/mysqld.pid" mariadbd || { echo "mariadbd is not running"; return; }
    pid_alive "$dir/run/slurmdbd.pid" slurmdbd || { echo "slurmdbd is not running"; return; }
  fi
  pid_alive "$dir/run/slurmctld.pid" slurmctld || { echo "slurmctld is not running"; return; }
  pid_alive "$dir/run/slurmd.pid" slurmd || { echo "slurmd is not running"; return; }
  SLURM_CONF=$conf timeout 10 scontrol ping >/dev/null 2>&1 || { echo "slurmctld does not answer"; return; }
  node_ok || { echo "the node is not ready"; return; }
  [ $accounting = 0 ] || sacct_ok || { echo "sacct fails (slurmdbd/MariaDB)"; return; }
}
problem=$(warm_problem)
if [ -z "$problem" ]; then
  log "already up ($conf)"
  emit_env
  exit 0
fi
[ -f "$dir/run/key" ] && log "not up: $problem; (re)starting what is missing"

stop_daemon() {
  local pid
  pid_alive "$1" || { rm -f "$1"; return 0; }
  pid=$(cat "$1")
  kill "$pid" 2>/dev/null && kill -CONT "$pid" 2>/dev/null || true  # CONT: a stopped one too
  for _ in $(seq 100); do running "$pid" || break; sleep 0.1; done
  running "$pid" && kill -9 "$pid" 2>/dev/null
  rm -f "$1"
}

[ "$(id -u)" = 0 ] || die "needs root (installs packages, runs munged/slurmd); run as root or in CI"

# ---------------------------------------------------------------- packages
mkdir -p "$dir"/{etc,run,log,state,spool,mysql}
need=()
command -v slurmctld >/dev/null || need+=(slurm-wlm)
command -v munged >/dev/null || need+=(munge)
if [ $accounting = 1 ]; then
  command -v slurmdbd >/dev/null || need+=(slurmdbd)
  command -v mariadbd >/dev/null || need+=(mariadb-server)
fi
if [ ${#need[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || die "no apt-get: install ${need[*]} yourself"
  log "installing ${need[*]} (apt log: $dir/log/apt.log)"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q "${need[@]}" >>"$dir/log/apt.log" 2>&1; then
    apt-get update -q >>"$dir/log/apt.log" 2>&1 || die "apt-get update failed: $(tail -n 2 "$dir/log/apt.log")"
    apt-get install -y -q "${need[@]}" >>"$dir/log/apt.log" 2>&1 \
      || die "apt-get install ${need[*]} failed: $(tail -n 2 "$dir/log/apt.log")"
  fi
fi

# ---------------------------------------------------------------- munge
if [ ! -s /etc/munge/munge.key ]; then
  log "creating /etc/munge/munge.key"
  mkdir -p /etc/munge
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown munge:munge /etc/munge/munge.key /etc/munge && chmod 0400 /etc/munge/munge.key
mkdir -p /run/munge /var/lib/munge /var/log/munge
chown munge:munge /run/munge /var/lib/munge /var/log/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  log "starting munged"
  runuser -u munge -- /usr/sbin/munged --force
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n | unmunge >/dev/null 2>&1 || die "munged did not start"
fi

# ---------------------------------------------------------------- config
mem_mb=$(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo)
real_mem=$((mem_mb * 9 / 10))
def_mem=$((real_mem / cpus))
[ $def_mem -gt 1024 ] && def_mem=1024

acct_lines="AccountingStorageType=accounting_storage/none"
if [ $accounting = 1 ]; then
  acct_lines="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$((port + 2))
AccountingStorageEnforce=associations
JobAcctGatherType=jobacct_gather/none"
fi

cat >"$conf.new" <<EOF
# Generated by scripts/slurm-up.sh: a single-node test cluster (see docs/slurm.md).
ClusterName=$cluster
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=cred_expire=10
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
ReturnToService=2
SlurmdParameters=config_overrides
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,sched_interval=2,bf_interval=5,default_queue_depth=1000
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=$def_mem
MaxArraySize=1001
MaxJobCount=20000
MinJobAge=60
KillWait=5
OverTimeLimit=0
InactiveLimit=0
MessageTimeout=20
JobCompType=jobcomp/none
MailProg=/bin/true
JobRequeue=1
$acct_lines
NodeName=localhost NodeAddr=127.0.0.1 NodeHostname=$host CPUs=$cpus RealMemory=$real_mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
changed=1
if [ -f "$conf" ] && cmp -s "$conf" "$conf.new"; then changed=0; fi
mv "$conf.new" "$conf"
export SLURM_CONF=$conf

# ---------------------------------------------------------------- accounting
if [ $accounting = 1 ]; then
  sock=$dir/run/mysqld.sock
  db_started=0
  if pid_alive "$dir/run/mysqld.pid" mariadbd && ! timeout 5 mariadb -S "$sock" -e 'select 1' >/dev/null 2>&1; then
    log "MariaDB does not answer: restarting it"
    stop_daemon "$dir/run/mysqld.pid"
  fi
  if ! pid_alive "$dir/run/mysqld.pid" mariadbd; then
    db_started=1
    rm -f "$sock"
    if [ ! -d "$dir/mysql/mysql" ]; then
      log "initialising MariaDB in $dir/mysql"
      mariadb-install-db --user=root --datadir="$dir/mysql" --auth-root-authentication-method=socket \
        --skip-test-db >"$dir/log/mariadb-install.log" 2>&1 \
        || die "mariadb-install-db failed: $(tail -n 3 "$dir/log/mariadb-install.log")"
    fi
    log "starting MariaDB on 127.0.0.1:$db_port"
    nohup mariadbd --user=root --datadir="$dir/mysql" --socket="$sock" --port="$db_port" \
      --bind-address=127.0.0.1 --pid-file="$dir/run/mysqld.pid" --skip-name-resolve \
      --innodb-buffer-pool-size=128M --innodb-lock-wait-timeout=900 --log-error="$dir/log/mariadb.log" >/dev/null 2>&1 &
    for _ in $(seq 100); do [ -S "$sock" ] && mariadb -S "$sock" -e 'select 1' >/dev/null 2>&1 && break; sleep 0.2; done
    mariadb -S "$sock" -e 'select 1' >/dev/null 2>&1 || die "MariaDB did not start: $(tail -n 3 "$dir/log/mariadb.log")"
  fi
  mariadb -S "$sock" -e "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1'; FLUSH PRIVILEGES;"
  cat >"$dir/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$((port + 2))
SlurmUser=root
DebugLevel=info
LogFile=$dir/log/slurmdbd.log
PidFile=$dir/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$db_port
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
EOF
  chmod 600 "$dir/etc/slurmdbd.conf"
  if [ $db_started = 1 ] && pid_alive "$dir/run/slurmdbd.pid" slurmdbd; then
    log "MariaDB was restarted: restarting slurmdbd"
    stop_daemon "$dir/run/slurmdbd.pid"
  fi
  start_slurmdbd() {
    log "starting slurmdbd"
    slurmdbd >>"$dir/log/slurmdbd.out" 2>&1 || die "slurmdbd failed: $(tail -n 3 "$dir/log/slurmdbd.log")"
    for _ in $(seq 100); do sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 0.2; done
  }
  pid_alive "$dir/run/slurmdbd.pid" slurmdbd || start_slurmdbd
  sacctmgr -n -P list cluster format=cluster 2>/dev/null | grep -qx "$cluster" \
    || sacctmgr -i add cluster "$cluster" >/dev/null || die "sacctmgr add cluster failed"
  sacctmgr -n -P list account format=account 2>/dev/null | grep -qx archlab \
    || sacctmgr -i add account archlab cluster="$cluster" >/dev/null
  sacctmgr -n -P list user format=user 2>/dev/null | grep -qx root \
    || sacctmgr -i add user root account=archlab cluster="$cluster" >/dev/null
fi

# ---------------------------------------------------------------- slurmctld + slurmd
if [ $changed = 1 ] && pid_alive "$dir/run/slurmctld.pid"; then
  log "configuration changed: restarting slurmctld and slurmd"
  stop_daemon "$dir/run/slurmd.pid"
  stop_daemon "$dir/run/slurmctld.pid"
fi
if ! pid_alive "$dir/run/slurmctld.pid"; then
  log "starting slurmctld"
  # -c: clear state (a fresh queue; job ids restart at 1 — hence one submitit folder per run)
  slurmctld -c -f "$conf" >>"$dir/log/slurmctld.out" 2>&1 \
    || die "slurmctld failed: $(tail -n 3 "$dir/log/slurmctld.log")"
fi
for _ in $(seq 100); do scontrol ping >/dev/null 2>&1 && break; sleep 0.1; done
scontrol ping >/dev/null 2>&1 || die "slurmctld does not answer: $(tail -n 3 "$dir/log/slurmctld.log")"
if ! pid_alive "$dir/run/slurmd.pid"; then
  log "starting slurmd"
  slurmd -N localhost -f "$conf" -c >>"$dir/log/slurmd.out" 2>&1 \
    || die "slurmd failed: $(tail -n 3 "$dir/log/slurmd.log")"
fi
for _ in $(seq 150); do
  state=$(sinfo -h -o %T 2>/dev/null | head -n 1)
  case "$state" in idle|mixed|allocated) break ;; esac
  sleep 0.2
done
case "$state" in
  idle|mixed|allocated) ;;
  *) scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true; sleep 1
     state=$(sinfo -h -o %T 2>/dev/null | head -n 1) ;;
esac
case "$state" in
  idle|mixed|allocated) ;;
  *) die "node not ready (state '$state'): $(tail -n 3 "$dir/log/slurmd.log")" ;;
esac
if [ $accounting = 1 ] && ! sacct_ok; then
  # slurmdbd runs but cannot answer (lost its MariaDB connection, hung): restart it once.
  log "sacct fails ($(SLURM_CONF=$conf timeout 10 sacct -n -X -S now 2>&1 >/dev/null | head -n 1)): restarting slurmdbd"
  stop_daemon "$dir/run/slurmdbd.pid"
  start_slurmdbd
  for _ in $(seq 50); do sacct_ok && break; sleep 0.2; done
  sacct_ok || die "sacct still fails: $(tail -n 3 "$dir/log/slurmdbd.log")"
fi
echo "$key" >"$dir/run/key"
log "up: $(sinfo -h -o '%P %D %c CPUs %m MB %T') (accounting=$accounting)"
emit_env
