#!/usr/bin/env bash
# Runs a command on a brand-new machine: a clean Debian 12 root made with mmdebstrap from this
# machine's own apt sources, holding ca-certificates and git and nothing else, with a fresh clone
# of the committed HEAD at /root/project. What was installed by hand on this machine is not there,
# so a missing install step fails here as it does for a new user. CI (.ci/run) runs in such roots.
#
#   scripts/fresh-root.sh [--ccache DIR] [--out DIR] [--add PATH]... [--keep] -- CMD [ARGS...]
#
#   --ccache DIR  lend DIR to the build as its ccache (a cache: it only saves time)
#   --out DIR     DIR appears as /root/out, for what CMD leaves behind (e.g. a .deb)
#   --add PATH    copy a file or folder into /root/add/ (e.g. a .deb to install there)
#   --keep        keep the root afterwards (its path is printed)
#
# CMD runs as root in /root/project, with /proc, /dev, /dev/pts and a /dev/shm (Chromium needs
# it) mounted, and an environment of only PATH, HOME, LANG, CI and this machine's TLS trust. Needs
# root (mmdebstrap, chroot, mounts); ~2 min for the root, then the command's own time.
set -euo pipefail

log() { echo "fresh-root: $*" >&2; }
usage() { sed -n '7,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

ccache="" out="" keep=0 adds=()
while (($# > 0)); do
  case "$1" in
    --ccache) ccache="$(realpath -m "$2")"; shift 2 ;;
    --out) out="$(realpath -m "$2")"; shift 2 ;;
    --add) adds+=("$(realpath -e "$2")"); shift 2 ;;
    --keep) keep=1; shift ;;
    --) shift; break ;;
    *) usage ;;
  esac
done
(($# > 0)) || usage
[[ "$(id -u)" -eq 0 ]] || { log "needs root (mmdebstrap, chroot, mounts): run it with sudo"; exit 2; }
project="$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)"

command -v mmdebstrap >/dev/null || {
  log "installing mmdebstrap"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
}
# This machine's apt sources, as they are: no mirror is named here.
sources=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [[ -s "$f" ]] && sources+=("$f")
done
((${#sources[@]} > 0)) || { log "no apt sources on this machine (/etc/apt/sources.list(.d))"; exit 2; }

root="$(mktemp -d "${TMPDIR:-/tmp}/fresh-root.XXXXXX")"
# The mounts under the root, deepest first, as the kernel lists them: the command inside may have
# moved or replaced the folders they were made on.
mounts_under_root() {
  awk -v root="$root" '$5 == root || index($5, root "/") == 1 {print $5}' /proc/self/mountinfo |
    sort -r
}
cleanup() {
  local target
  while read -r target; do umount -l "$target" || true; done < <(mounts_under_root)
  if [[ -n "$(mounts_under_root)" ]]; then
    # rm would walk into a bind mount of this machine's own folders (the ccache, --out).
    log "could not unmount everything under $root; left it in place: $(mounts_under_root | tr '\n' ' ')"
  elif ((keep)); then
    log "root kept at $root"
  else
    rm -rf --one-file-system "$root"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start=$SECONDS
log "making a clean Debian 12 root in $root"
mmdebstrap --quiet --variant=apt --include=ca-certificates,git bookworm "$root" "${sources[@]}" >/dev/null
cp /etc/resolv.conf "$root/etc/resolv.conf"
# A machine's /etc/hosts, as Debian's installer writes it (mmdebstrap writes none): the cluster
# tests (scripts/cluster.sh) give each test host its own view of it.
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' \
  "$(hostname)" >"$root/etc/hosts"
# A chroot is not a booted machine: packages installed in it (munge, Slurm's daemons) must not
# start their services, which would outlive the root. Debian's own switch for that:
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod +x "$root/usr/sbin/policy-rc.d"
# The same TLS trust as this machine: its registries may be reached through its own certificate
# authority, which lives in /usr/local/share/ca-certificates.
if [[ -n "$(ls -A /usr/local/share/ca-certificates 2>/dev/null)" ]]; then
  cp -r /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
  chroot "$root" update-ca-certificates >/dev/null 2>&1
fi
bundle=/etc/ssl/certs/ca-certificates.crt
git clone --quiet "$project" "$root/root/project"
if ((${#adds[@]} > 0)); then
  mkdir -p "$root/root/add"
  cp -r "${adds[@]}" "$root/root/add/"
fi

mount_in() {  # mount_in TARGET MOUNT-ARGS...: mounts at $root/TARGET, unmounted by cleanup
  local target="$root/$1"
  shift
  mkdir -p "$target"
  [[ ! -L "$target" ]] || { log "$target is a symlink; not mounting on it"; exit 1; }
  mount "$@" "$target"
}
# The root a mount point of its own, private, as a booted machine's / is: mounts made inside (the
# cluster tests' namespaces, scripts/cluster.sh) can then be kept from showing on this machine.
mount --bind "$root" "$root"
mount --make-private "$root"
mount_in proc -t proc proc
# /dev/pts with it. A slave from the start: nothing mounted or unmounted under it (the root's own
# /dev/shm below, the lazy unmounts of cleanup) may propagate back onto this machine's /dev.
mount_in dev --rbind --make-rslave /dev
mount_in dev/shm -t tmpfs tmpfs
env_vars=(HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
          "CI=${CI:-}" NODE_EXTRA_CA_CERTS=$bundle SSL_CERT_FILE=$bundle CURL_CA_BUNDLE=$bundle)
if [[ -n "$ccache" ]]; then
  mkdir -p "$ccache"
  mount_in root/.ccache --bind "$ccache"
  env_vars+=(CCACHE_DIR=/root/.ccache)
fi
if [[ -n "$out" ]]; then
  mkdir -p "$out"
  mount_in root/out --bind "$out"
fi
log "root ready after $((SECONDS - start)) s; running '$*' in a clean clone of $(git -C "$project" rev-parse --short HEAD)"

set +e
chroot "$root" /usr/bin/env -i "${env_vars[@]}" bash -c 'cd /root/project && exec "$@"' fresh-root "$@" </dev/null
rc=$?
set -e
log "'$*' exited $rc after $((SECONDS - start)) s in all"
exit "$rc"
