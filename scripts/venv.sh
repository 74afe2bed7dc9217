#!/usr/bin/env bash
# The project's Python environment: a virtual environment in .venv/ (git-ignored) with the
# packages of requirements-dev.txt (tests/), spark/requirements.txt and spark/requirements-dev.txt
# (the Spark job and its tests). Run by `make test` (through scripts/test.sh) and `make venv`.
#
# Created once and reused: a stamp in the venv records the SHA-256 of the requirement files it was
# installed from, so an up-to-date venv costs a hash and a `python -c pass`. A changed requirement
# file reinstalls into the same venv; a venv whose interpreter no longer runs is made anew.
#
# Environment (defaults in brackets):
#   TRACEPIPE_VENV  [<repo>/.venv]   where the venv lives
#   PYTHON          [python3]        the interpreter it is made from (3.10 or newer)
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)

LIB_NAME=venv
# shellcheck source=scripts/lib.sh
source "$SCRIPT_DIR/lib.sh"

VENV=$(abspath "${TRACEPIPE_VENV:-$REPO_DIR/.venv}")
PYTHON=${PYTHON:-python3}
STAMP=$VENV/.requirements.sha256

cd "$REPO_DIR"
reqs=()
for f in requirements-dev.txt spark/requirements.txt spark/requirements-dev.txt; do
  [[ -f $f ]] && reqs+=("$f")
done
((${#reqs[@]})) || die "no requirement files"
# The files' names and contents (spark/requirements-dev.txt includes spark/requirements.txt by -r).
want=$(for f in "${reqs[@]}"; do printf '%s  %s\n' "$(sha256sum "$f" | cut -d' ' -f1)" "$f"; done | sha256sum | cut -d' ' -f1)

up_to_date() {
  [[ -f $STAMP && $(<"$STAMP") == "$want" ]] && "$VENV/bin/python" -c pass >/dev/null 2>&1
}

if up_to_date; then
  say "$VENV up to date"
  exit 0
fi

mkdir -p "$(dirname "$VENV")"
exec 8>"$VENV.lock"
flock -w 1800 8 || die "could not lock $VENV.lock (another venv.sh still installing?)"
if up_to_date; then # made by the holder of the lock meanwhile
  say "$VENV up to date"
  exit 0
fi

t0=$(now)
if ! "$VENV/bin/python" -c pass >/dev/null 2>&1; then
  need_cmd "$PYTHON" "install Python 3.10 or newer (Debian package python3)"
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
    die "$PYTHON is $("$PYTHON" --version 2>&1): the tests need Python 3.10 or newer"
  "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1 ||
    die "$PYTHON cannot make virtual environments: apt-get install python3-venv"
  rm -rf "$VENV"
  say "creating $VENV ($("$PYTHON" --version 2>&1))"
  "$PYTHON" -m venv "$VENV"
fi
rm -f "$STAMP"
pip_args=()
for f in "${reqs[@]}"; do pip_args+=(-r "$f"); done
say "installing ${reqs[*]} into $VENV"
log=$VENV/pip-install.log
if ! "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input "${pip_args[@]}" >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  die "pip install failed (log: $log)"
fi
printf '%s\n' "$want" >"$STAMP"
say "$VENV ready ($(elapsed "$t0")s)"
