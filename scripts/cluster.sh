#!/usr/bin/env bash
# A cluster of test hosts on this one machine, for the multi-host tests (tests/test_cluster.py):
# each host is a network namespace with its own address on a private bridge, its own hostname
# (in a UTS namespace) and its own /etc/hosts view, in which its own name resolves to 127.0.1.1 as
# on a fresh Debian install. The hosts reach each other and their own loopback, nothing else: no
# namespace has a default route. Optionally a real Slurm runs on them: munged, a slurmctld on the
# first host and one slurmd per host.
#
#   scripts/cluster.sh up DIR [HOSTS]     make HOSTS hosts (default 2), node1..nodeN, state in DIR
#   scripts/cluster.sh exec DIR HOST CMD  run CMD on HOST (node1, node2, ...)
#   scripts/cluster.sh slurm DIR          start munged, slurmctld (node1) and a slurmd per host
#   scripts/cluster.sh link DIR HOST up|down   take HOST's network link up or down (a fault)
#   scripts/cluster.sh down DIR           stop every process on the hosts and remove them
#   scripts/cluster.sh check              exit 0 if this machine can make hosts, else say why (77)
#
# Two folders stand for a shared filesystem; every host sees them at the same path, through a bind
# mount. DIR/shared is read-write everywhere. DIR/export is read-write on node1 only: the other
# hosts see it read-only, so that a rank on them that writes into it fails loudly. Slurm's
# commands on a host need SLURM_CONF=DIR/slurm/slurm.conf, which exec sets.
# Needs root (namespaces, mounts, daemons). `up` also removes hosts left by a harness whose DIR
# is gone (a test killed before its cleanup).
set -euo pipefail

log() { echo "cluster: $*" >&2; }
die() { log "$*"; exit 1; }
usage() { sed -n '9,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

readonly subnet=10.77.0
readonly prefix=sae-cl  # every namespace of a harness is named sae-cl-<id>-<host>

# The namespace id of DIR: its path's hash, so that two harnesses never share a name.
cluster_id() { printf '%s' "$(realpath -m "$1")" | md5sum | cut -c1-8; }
netns_of() { echo "$prefix-$(cluster_id "$1")-$2"; }
hosts_of() { cat "$1/hosts"; }
# Runs a command in network namespace $1. Not `ip -n` or `ip netns exec`: they make / a slave
# mount, which fails where / is no mount point (a chroot, as in CI).
in_ns() {
  local ns="$1"
  shift
  nsenter --net="/run/netns/$ns" -- "$@"
}

# Shell code that defines keep_mounts_here DIR, for a new mount namespace: it makes sure that the
# mounts made there stay there. `mount --make-rslave /` does it, as ip netns exec does; where / is
# no mount point (a chroot) that fails, and then the mounts that hold /etc/hosts and DIR must not
# be shared. It says why on stderr and exits 1 otherwise.
readonly keep_mounts_here='keep_mounts_here() {
  mount --make-rslave / 2>/dev/null && return 0
  local target
  for target in /etc/hosts "$1"; do
    case "$(findmnt -no PROPAGATION --target "$target" 2>/dev/null)" in
      private* | slave*) ;;
      *)
        echo "/ is no mount point (a chroot?) and the mount that holds $target is shared or" \
          "unknown, so the hosts mounts could show outside them: bind-mount the root onto" \
          "itself, private, first (as scripts/fresh-root.sh does)" >&2
        exit 1 ;;
    esac
  done
}'

# Why this machine cannot make hosts, or nothing.
why_not() {
  [[ "$(id -u)" -eq 0 ]] || { echo "needs root (network namespaces, mounts)"; return; }
  command -v ip >/dev/null || { echo "needs iproute2 (ip)"; return; }
  local tool
  for tool in unshare nsenter findmnt mount; do
    command -v "$tool" >/dev/null || { echo "needs util-linux and mount ($tool)"; return; }
  done
  [[ -f /etc/hosts ]] || { echo "needs an /etc/hosts, which each test host sees its own of"; return; }
  local probe="$prefix-probe-$$"
  if ! ip netns add "$probe" 2>/dev/null; then
    echo "cannot make a network namespace here (ip netns add failed)"
    return
  fi
  ip netns del "$probe"
  local dir
  dir="$(mktemp -d)"
  unshare --mount --propagation unchanged -- \
    bash -c "$keep_mounts_here"$'\n''keep_mounts_here "$1"' keep "$dir" 2>&1 || true
  rmdir "$dir"
}

# Removes the hosts of harnesses that are gone: their DIR was removed, or the process that ran
# `up` (a test, a shell) has exited without `down` (a test killed before its cleanup).
remove_stale() {
  local ns dir owner
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$prefix-" || true); do
    dir="$(cat "/run/sae-cluster/$ns" 2>/dev/null || true)"
    owner="$(cat "$dir/owner" 2>/dev/null || true)"
    [[ -n "$owner" ]] && kill -0 "$owner" 2>/dev/null && continue
    kill_in "$ns"
    ip netns del "$ns" 2>/dev/null || true
    rm -f "/run/sae-cluster/$ns"
    [[ -n "$dir" ]] && rm -f "$dir/hosts"
  done
}

# Kills every process in namespace $1: TERM, then KILL for what is left after 2 s.
kill_in() {
  local pids
  pids="$(ip netns pids "$1" 2>/dev/null || true)"
  [[ -z "$pids" ]] && return 0
  kill -TERM $pids 2>/dev/null || true
  for _ in $(seq 20); do
    pids="$(ip netns pids "$1" 2>/dev/null || true)"
    [[ -z "$pids" ]] && return 0
    sleep 0.1
  done
  kill -KILL $pids 2>/dev/null || true
}

up() {
  local dir="$1" count="${2:-2}"
  (( count >= 2 && count <= 200 )) || die "HOSTS must be 2 to 200, not $count"
  local reason
  reason="$(why_not)"
  [[ -z "$reason" ]] || die "$reason"
  mkdir -p "$dir/shared" "$dir/export" /run/sae-cluster
  dir="$(realpath "$dir")"
  [[ -e "$dir/hosts" ]] && die "$dir already holds a cluster: scripts/cluster.sh down $dir first"
  remove_stale
  local id switch i host ns
  id="$(cluster_id "$dir")"
  switch="$prefix-$id-switch"
  : >"$dir/hosts"
  echo "$PPID" >"$dir/owner"  # the test or shell that ran `up`: the hosts are stale once it exits
  ip netns add "$switch"
  echo "$dir" >"/run/sae-cluster/$switch"
  in_ns "$switch" ip link add br0 type bridge
  in_ns "$switch" ip link set br0 up
  for i in $(seq "$count"); do
    host="node$i"
    ns="$prefix-$id-$host"
    ip netns add "$ns"
    echo "$dir" >"/run/sae-cluster/$ns"
    ip link add eth0 netns "$ns" type veth peer name "port$i" netns "$switch"
    in_ns "$switch" ip link set "port$i" master br0 up
    in_ns "$ns" ip addr add "$subnet.$i/24" dev eth0
    in_ns "$ns" ip link set eth0 up
    in_ns "$ns" ip link set lo up
    echo "$host" >>"$dir/hosts"
  done
  # Each host's /etc/hosts: its own name on 127.0.1.1 (Debian's default), the others' addresses.
  for i in $(seq "$count"); do
    {
      printf '127.0.0.1\tlocalhost\n127.0.1.1\tnode%s\n' "$i"
      for j in $(seq "$count"); do
        ((j == i)) || printf '%s.%s\tnode%s\n' "$subnet" "$j" "$j"
      done
    } >"$dir/etc-hosts-node$i"
  done
  log "$count hosts up in $dir: $(tr '\n' ' ' <"$dir/hosts")"
}

# Runs CMD on HOST: its network namespace, hostname, /etc/hosts view and view of DIR/shared.
run_on() {
  local dir host ns
  dir="$(realpath "$1")" host="$2"
  shift 2
  grep -qFx "$host" "$dir/hosts" || die "$host is not a host of $dir ($(tr '\n' ' ' <"$dir/hosts"))"
  ns="$(netns_of "$dir" "$host")"
  local export_mode=ro
  [[ "$host" == node1 ]] && export_mode=rw
  # The mounts below must stay in this mount namespace (see in_ns for why not ip netns exec).
  exec nsenter --net="/run/netns/$ns" -- unshare --mount --uts --propagation unchanged -- \
    env SLURM_CONF="$dir/slurm/slurm.conf" bash -c '
    set -e
    '"$keep_mounts_here"'
    keep_mounts_here "$2"
    hostname "$1"
    mount --bind "$2/etc-hosts-$1" /etc/hosts
    mount --bind "$2/shared" "$2/shared"
    mount --bind "$2/export" "$2/export"
    mount -o "remount,bind,$3" "$2/export"
    shift 3
    exec "$@"' cluster-exec "$host" "$dir" "$export_mode" "$@"
}

link() {
  local dir="$1" host="$2" state="$3"
  [[ "$state" == up || "$state" == down ]] || usage
  in_ns "$(netns_of "$dir" "$host")" ip link set eth0 "$state"
}

# A Slurm of the hosts: one munged (its socket is a file, reachable from every namespace),
# slurmctld on node1, a slurmd per host, 1 CPU each. Root runs everything, as in a test.
slurm() {
  local dir
  dir="$(realpath "$1")"
  local s="$dir/slurm"
  for tool in munged slurmctld slurmd srun; do
    command -v "$tool" >/dev/null ||
      die "needs Slurm and MUNGE (apt-get install slurmctld slurmd slurm-client munge): no $tool"
  done
  mkdir -p "$s/munge" "$s/munge-key" "$s/ctld" "$s/cgroup"
  chmod 0755 "$s/munge"
  chmod 0700 "$s/munge-key"
  dd if=/dev/urandom of="$s/munge-key/munge.key" bs=1024 count=1 status=none
  chmod 0400 "$s/munge-key/munge.key"
  # In node1's namespace, so that `down` finds it there; its socket is a file every host reaches.
  "$0" exec "$dir" node1 munged --force --key-file="$s/munge-key/munge.key" --socket="$s/munge/munge.socket" \
    --pid-file="$s/munge/munged.pid" --log-file="$s/munge/munged.log" \
    --seed-file="$s/munge/munged.seed"
  local nodes
  nodes="$(paste -sd, "$dir/hosts")"
  cat >"$s/slurm.conf" <<EOF
# Written by scripts/cluster.sh for a test cluster in $dir.
ClusterName=sae-test
SlurmctldHost=node1($subnet.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$s/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$s/ctld
SlurmdSpoolDir=$s/spool-%n
SlurmctldPidFile=$s/slurmctld.pid
SlurmdPidFile=$s/slurmd-%n.pid
SlurmctldLogFile=$s/slurmctld.log
SlurmdLogFile=$s/slurmd-%n.log
ProctrackType=proctrack/pgid
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
SlurmdParameters=config_overrides
KillWait=10
InactiveLimit=0
MinJobAge=60
SlurmctldTimeout=30
SlurmdTimeout=30
MessageTimeout=10
EOF
  # slurmd loads a cgroup plugin even when no plugin uses cgroups; v1 named outright does not
  # look for a cgroup filesystem, which a chroot or namespace may lack.
  printf 'CgroupPlugin=cgroup/v1\nCgroupMountpoint=%s/cgroup\n' "$s" >"$s/cgroup.conf"
  local i=1 host count
  count="$(wc -l <"$dir/hosts")"
  for host in $(hosts_of "$dir"); do
    mkdir -p "$s/spool-$host"
    echo "NodeName=$host NodeAddr=$subnet.$i CPUs=1 State=UNKNOWN" >>"$s/slurm.conf"
    i=$((i + 1))
  done
  echo "PartitionName=test Nodes=$nodes Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES" \
    >>"$s/slurm.conf"
  # What the daemons print before their logs open (hwloc's complaints where /sys is missing).
  "$0" exec "$dir" node1 slurmctld -i -f "$s/slurm.conf" </dev/null >>"$s/daemons.out" 2>&1
  for host in $(hosts_of "$dir"); do
    "$0" exec "$dir" "$host" slurmd -N "$host" -f "$s/slurm.conf" </dev/null >>"$s/daemons.out" 2>&1
  done
  # Ready once every node is idle.
  local deadline=$((SECONDS + 30))
  until "$0" exec "$dir" node1 sinfo -h -o '%T %D' 2>/dev/null | grep -qx "idle $count"; do
    ((SECONDS < deadline)) || {
      "$0" exec "$dir" node1 sinfo 2>&1 | sed 's/^/  /' >&2 || true
      die "Slurm's nodes were not idle within 30 s; logs in $s"
    }
    sleep 0.2
  done
  log "Slurm up: slurmctld on node1, slurmd on $nodes"
}

down() {
  local dir id ns
  dir="$(realpath -m "$1")"
  [[ -e "$dir/hosts" ]] || return 0
  id="$(cluster_id "$dir")"
  for ns in $(ip netns list | awk '{print $1}' | grep "^$prefix-$id-" || true); do
    kill_in "$ns"
  done
  if [[ -s "$dir/slurm/munge/munged.pid" ]]; then
    kill "$(cat "$dir/slurm/munge/munged.pid")" 2>/dev/null || true
  fi
  for ns in $(ip netns list | awk '{print $1}' | grep "^$prefix-$id-" || true); do
    ip netns del "$ns"
    rm -f "/run/sae-cluster/$ns"
  done
  rm -f "$dir/hosts"
}

(($# > 0)) || usage
command="$1"
shift
case "$command" in
  up) (($# >= 1)) || usage; up "$@" ;;
  exec) (($# >= 3)) || usage; run_on "$@" ;;
  slurm) (($# == 1)) || usage; slurm "$1" ;;
  link) (($# == 3)) || usage; link "$@" ;;
  down) (($# == 1)) || usage; down "$1" ;;
  check)
    reason="$(why_not)"
    [[ -z "$reason" ]] || { echo "$reason"; exit 77; }
    ;;
  *) usage ;;
esac
