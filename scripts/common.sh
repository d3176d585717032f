# shellcheck shell=bash
# Shared by the scripts in scripts/: source it, do not run it.
#   source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# The one Python every script uses. Debian's /usr/bin/python3 is the default because it is the
# one with python3-torch, the same LibTorch 1.13 that sae links (scripts/reference.py and
# tests/test_pytorch_interop.py need it); a python3 earlier on PATH (pyenv, a venv) may have no
# torch, or another one. Set PYTHON to use another interpreter.
PYTHON="${PYTHON:-/usr/bin/python3}"

# as_root CMD ARGS...: runs CMD as root, directly when we are root, otherwise through sudo.
# Environment variables for CMD go through env, since sudo drops the caller's environment:
#   as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y PACKAGE
as_root() {
  if [[ "$(id -u)" -eq 0 ]]; then
    "$@"
  else
    sudo "$@"
  fi
}
