#!/usr/bin/env bash
# Bring up a single-node Slurm cluster (slurmctld + slurmd + munged) on this
# Debian 12 host, without systemd, for the scheduler tests. Run as root.
# With --packages-only, only installs the packages. Idempotent: a second
# run keeps the running daemons. Exits non-zero, with the daemons' log
# tails, if the node does not become idle within 60 s.
set -euo pipefail

host=$(hostname -s)
conf=/etc/slurm/slurm.conf
log=/var/log/slurm

fail() {
    echo "start_slurm.sh: $*" >&2
    for f in "$log"/slurmctld.log "$log"/slurmd.log /var/log/munge/munged.log; do
        [ -f "$f" ] && { echo "--- tail $f" >&2; tail -n 30 "$f" >&2; }
    done
    sinfo -N -l >&2 2>&1 || true
    exit 1
}
# True if daemon $1 (pid file /run/$1.pid) is alive; the name check guards
# against a stale pid file whose pid was reused.
running() { [ "$(cat "/proc/$(cat "/run/$1.pid" 2>/dev/null)/comm" 2>/dev/null)" = "$1" ]; }

# 1. Packages. No daemon is started by the packages' scripts (policy-rc.d).
missing=$(for p in slurm-wlm munge parallel; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || echo "$p"
done)
if [ -n "$missing" ]; then
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then # ours, removed at exit even if apt-get fails
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm munge parallel >/dev/null
fi
[ "${1:-}" != --packages-only ] || exit 0

# 2. Munge: a key, then munged (as the munge user) unless it already answers.
install -d -o munge -g munge -m 700 /etc/munge /var/log/munge /var/lib/munge
install -d -o munge -g munge -m 755 /run/munge
[ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 10); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 1; done
    munge -n | unmunge >/dev/null || fail "munged does not answer"
fi

# 3. slurm.conf for one node named after this host; no cgroup or systemd
# plugin is used, so no cgroup.conf is needed. RealMemory: 95 % of MemTotal.
mem=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.95 }' /proc/meminfo)
install -d -m 755 /etc/slurm "$log" /var/spool/slurmctld /var/spool/slurmd
new=$(cat <<EOF
# Written by tests/scheduler/start_slurm.sh
ClusterName=ci
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$log/slurmctld.log
SlurmdLogFile=$log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
MailProg=/bin/true
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
)
changed=
if [ "$(cat "$conf" 2>/dev/null)" != "$new" ]; then
    printf '%s\n' "$new" >"$conf"
    changed=1
fi

# 4. Daemons (they daemonise themselves); restart them if the config changed.
if [ -n "$changed" ]; then
    for p in slurmd slurmctld; do
        running $p || continue
        kill "$(cat /run/$p.pid)"
        for _ in $(seq 20); do running $p || break; sleep 0.5; done
    done
fi
running slurmctld || slurmctld || fail "slurmctld did not start"
running slurmd || slurmd || fail "slurmd did not start"

# Wait (at most 60 s) for the node to be idle; resume it if down or drained.
for i in $(seq 60); do
    state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
    case "$state" in
    *'*') ;; # "*": slurmd not responding (yet)
    idle | mixed | allocated | completing) echo "slurm: node $host $state after ${i}s"; exit 0 ;;
    down* | drain* | fail*) scontrol update nodename="$host" state=resume 2>/dev/null || true ;;
    esac
    sleep 1
done
fail "node $host not idle after 60 s (state: ${state:-none})"
