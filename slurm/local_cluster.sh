#!/usr/bin/env bash
# A real single-node Slurm for tests and CI on a Debian machine without systemd (run as root):
# munge, MariaDB (unix socket only) + slurmdbd for accounting, slurmctld and slurmd.
#
#   bash slurm/local_cluster.sh up       # apt-installs what is missing, starts the daemons
#   bash slurm/local_cluster.sh status   # exit 0 when every daemon we started is alive
#   bash slurm/local_cluster.sh down     # stops exactly the daemons `up` started
#
# `up` is idempotent: with every recorded daemon alive it does nothing. Otherwise it starts a
# fresh cluster (new controller state and a new accounting database), so job ids start again
# at 1: give every submitit job its own folder. Environment:
#   FSL_SLURM_STATE  state, logs and recorded PIDs (default /var/lib/fsl-sage-slurm)
#   FSL_SLURM_CPUS   CPUs the node advertises (default max(nproc, 4), so a 3-rank job fits
#                    on a 2-core machine; slurmd trusts slurm.conf via config_overrides)
set -euo pipefail

STATE=${FSL_SLURM_STATE:-/var/lib/fsl-sage-slurm}
PIDS=$STATE/pids
CONF=/etc/slurm/slurm.conf
DBD_CONF=/etc/slurm/slurmdbd.conf
MARKER="# written by fsl-sage-dist slurm/local_cluster.sh"
PACKAGES=(slurmctld slurmd slurm-client munge slurmdbd mariadb-server)
NODE=$(hostname -s)

log() { echo "local_cluster: $*" >&2; }
die() { log "error: $*"; exit 1; }

install_packages() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Our daemons run in the foreground, started by us, so $! is the daemon itself: no PID files
# to trust, and `down` can never stop someone else's process.
start() {  # start NAME COMMAND...
    local name=$1; shift
    setsid "$@" </dev/null >>"$STATE/log/$name.out" 2>&1 &
    echo "$name $!" >>"$PIDS"
}

alive() {  # alive NAME PID: the recorded PID still runs the program we started
    [ -r "/proc/$2/comm" ] && [ "$(cat "/proc/$2/comm")" = "$1" ]
}

all_alive() {
    [ -s "$PIDS" ] || return 1
    while read -r name pid; do alive "$name" "$pid" || return 1; done <"$PIDS"
}

wait_for() {  # wait_for WHAT SECONDS COMMAND...
    local what=$1 secs=$2; shift 2
    for _ in $(seq $((secs * 4))); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.25
    done
    die "$what did not come up within ${secs}s; see $STATE/log/"
}

write_configs() {
    local cpus=${FSL_SLURM_CPUS:-$(( $(nproc) > 4 ? $(nproc) : 4 ))}
    local mem_mb; mem_mb=$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)
    for f in "$CONF" "$DBD_CONF"; do
        if [ -e "$f" ] && ! grep -qF "$MARKER" "$f"; then
            die "$f exists and was not written by this script; refusing to overwrite it"
        fi
    done
    mkdir -p /etc/slurm
    cat >"$CONF" <<EOF
$MARKER
ClusterName=fslsage
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
EnforcePartLimits=ALL
# Schedule at once: at submission, and every second for a requeued job whose begin time passed.
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,sched_interval=1
# A requeued job may start cred_expire + 1 s after it stopped (default 120 s); keep tests fast.
AuthInfo=cred_expire=10
SlurmdParameters=config_overrides
ReturnToService=2
# Requeue and cancel in seconds, not the default 30 s of grace.
KillWait=5
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
JobAcctGatherType=jobacct_gather/none
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    # slurmdbd refuses a config others can read (it would hold the database password).
    install -m 600 /dev/null "$DBD_CONF"
    cat >"$DBD_CONF" <<EOF
$MARKER
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=root
StorageLoc=slurm_acct_db
LogFile=$STATE/log/slurmdbd.log
PidFile=$STATE/run/slurmdbd.pid
EOF
}

start_munge() {
    if [ ! -s /etc/munge/munge.key ]; then  # Debian's postinst makes one; older images may not
        setpriv --reuid=munge --regid=munge --init-groups mungekey --create
    fi
    install -d -o munge -g munge -m 755 /run/munge
    start munged setpriv --reuid=munge --regid=munge --init-groups \
        munged --foreground --log-file="$STATE/log/munged.log"
    wait_for munged 20 bash -c 'munge -n | unmunge'
}

start_mariadb() {
    install -d -o mysql -g mysql "$STATE/mysql" /run/mysqld
    mariadb-install-db --no-defaults --user=mysql --datadir="$STATE/mysql" \
        --auth-root-authentication-method=socket --skip-test-db >"$STATE/log/mariadb-install.log"
    # Unix socket only: slurmdbd connects as root through the default socket (unix_socket auth).
    start mariadbd mariadbd --no-defaults --user=mysql --datadir="$STATE/mysql" \
        --socket=/run/mysqld/mysqld.sock --pid-file=/run/mysqld/mysqld.pid --skip-networking \
        --log-error="$STATE/log/mariadb.log"
    wait_for mariadb 60 mariadb-admin --socket=/run/mysqld/mysqld.sock ping
}

start_slurm() {
    start slurmdbd slurmdbd -D
    wait_for slurmdbd 60 sacctmgr -n list cluster
    sacctmgr -i -Q add cluster fslsage >/dev/null
    start slurmctld slurmctld -D -i
    wait_for slurmctld 60 scontrol ping
    start slurmd slurmd -D
    wait_for "node $NODE" 60 bash -c "sinfo -h -n $NODE -o %t | grep -qx idle"
}

refuse_foreign_daemons() {
    local name pid
    for name in munged mariadbd slurmdbd slurmctld slurmd; do
        pid=$(pgrep -x "$name" | head -n 1) || continue
        die "$name (pid $pid) runs but was not started by this script; stop it first"
    done
}

up() {
    [ "$(id -u)" = 0 ] || die "run as root (daemons, /etc/slurm and apt need it)"
    if all_alive; then
        log "already up ($(tr '\n' ' ' <"$PIDS"))"
        return
    fi
    [ -s "$PIDS" ] && down  # a partial cluster: stop what is left, then start afresh
    install_packages
    refuse_foreign_daemons
    case $STATE in /*/*) ;; *) die "FSL_SLURM_STATE=$STATE: use a dedicated absolute folder" ;; esac
    rm -rf "$STATE"
    mkdir -p "$STATE"/{log,run,ctld,slurmd}
    write_configs
    start_munge
    start_mariadb
    start_slurm
    log "up: $(tr '\n' ' ' <"$PIDS")(logs in $STATE/log)"
}

cancel_jobs() {  # jobs left running (a failed test's) would outlive slurmd as orphans
    all_alive || return 0
    squeue -h -o %A | xargs -r scancel || true
    for _ in $(seq 60); do
        [ -z "$(squeue -h -o %i 2>/dev/null)" ] && return
        sleep 0.25
    done
    log "jobs still listed after scancel: $(squeue -h -o %i | tr '\n' ' ')"
}

down() {
    [ -s "$PIDS" ] || { log "nothing recorded in $PIDS; nothing to stop"; return; }
    cancel_jobs
    # Reverse start order: slurmd and slurmctld first, munge last (the others use it to stop).
    tac "$PIDS" | while read -r name pid; do
        alive "$name" "$pid" || continue
        kill "$pid"
        for _ in $(seq 60); do alive "$name" "$pid" || break; sleep 0.25; done
        alive "$name" "$pid" && { log "$name ($pid) ignored SIGTERM; killing it"; kill -9 "$pid"; }
        log "stopped $name ($pid)"
    done
    rm -f "$PIDS"
}

status() {
    all_alive && { log "up: $(tr '\n' ' ' <"$PIDS")"; return 0; }
    log "down"
    return 1
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    *) die "usage: $0 up|down|status" ;;
esac
