#!/usr/bin/env bash
# Installs sae's .deb with apt-get, as a user would (so Depends and Recommends come in), and uses it
# from a folder of its own: --version, the man page, the installed fetch script, one epoch of
# training with the installed config, and the run folder and report that training writes. CI runs
# it in a clean Debian 12 root (scripts/fresh-root.sh); it changes the machine it runs on.
#   scripts/check-deb.sh SAE_DEB
set -euo pipefail
[[ $# -eq 1 && -f "$1" ]] || { echo "usage: $0 path/to/sae_VERSION_ARCH.deb" >&2; exit 2; }
deb="$(realpath "$1")"

start=$SECONDS
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" man-db >/dev/null
echo "check-deb: installed $(dpkg-query -W -f='${Package} ${Version}' sae) in $((SECONDS - start)) s"

cd "$(mktemp -d)"
passed=0 failed=0
check() {  # check NAME CMD...: runs CMD, counts it
  local name="$1"
  shift
  if "$@"; then
    echo "check-deb: ok: $name"
    passed=$((passed + 1))
  else
    echo "check-deb: FAILED: $name"
    failed=$((failed + 1))
  fi
}
version="$(dpkg-query -W -f='${Version}' sae)"
check "sae --version prints $version" bash -c "sae --version | grep -qF '$version'"
check "man sae shows every command" bash -c \
  'page="$(MANPAGER=cat MANWIDTH=100 man sae)" &&
   for c in train eval reconstruct inspect encode report sweep; do grep -q "sae $c" <<<"$page" || exit 1; done'
check "the installed fetch script fetches MNIST" /usr/share/sae/fetch-data.sh mnist
check "sae train --epochs 1 with the installed config" \
  sae train --config /usr/share/sae/configs/mnist.toml --epochs 1 --out runs/deb --quiet
check "the run folder holds model.pt, metrics.csv and report.html" bash -c \
  'for f in model.pt metrics.csv report.html loss.png; do [[ -s runs/deb/$f ]] || exit 1; done'
check "sae eval reads the run" bash -c 'sae eval --checkpoint runs/deb --json | grep -q mse'
echo "check-deb: $passed passed, $failed failed"
((failed == 0))
