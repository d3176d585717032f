#!/usr/bin/env bash
# Writes sae's man page with help2man: the top from `sae --help` and `--version`, a section per
# command from its own `--help`, and the files the package installs. The build runs it
# (CMakeLists.txt, target man_page).
#   scripts/man-page.sh SAE_BINARY OUT.1
set -euo pipefail
[[ $# -eq 2 ]] || { echo "usage: $0 SAE_BINARY OUT.1" >&2; exit 2; }
binary="$(realpath "$1")" out="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Run as plain `sae` from PATH, so that the usage lines name the command, not the build folder.
ln -s "$binary" "$work/sae"
export PATH="$work:$PATH"

# The commands, as `sae --help` lists them under "Subcommands:".
mapfile -t commands < <(sae --help | awk '/^Subcommands:/ {on = 1; next} on && /^  [a-z]/ {print $1}')
((${#commands[@]} > 0)) || { echo "man-page: sae --help lists no commands" >&2; exit 1; }

roff_literal() { sed -e 's/\\/\\e/g' -e "s/^[.']/\\\\\\&&/"; }  # help text as literal roff lines
{
  echo "[COMMANDS]"
  for c in "${commands[@]}"; do
    echo ".SS \"sae $c\""
    echo ".nf"
    sae "$c" --help | roff_literal
    echo ".fi"
  done
  cat <<'ROFF'
[FILES]
.TP
.I /usr/share/sae/configs/mnist.toml, /usr/share/sae/configs/fashion-mnist.toml
The original model's hyperparameters:
.B sae train \-\-config /usr/share/sae/configs/mnist.toml
.TP
.I /usr/share/sae/fetch-data.sh
Fetches MNIST or Fashion-MNIST as IDX files into data/ in the current folder, where
.B sae train
looks by default.
.B /usr/share/sae/fetch-data.sh \-\-help
says how.
ROFF
} >"$work/include.h2m"

help2man --no-info --section 1 --include "$work/include.h2m" \
  --name "train, evaluate and inspect a convolutional sparse autoencoder" --output "$out" sae
