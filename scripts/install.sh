#!/usr/bin/env bash
# Install semsearch into a virtual environment, every version pinned by constraints.txt.
#
# The one install procedure of the project: .ci/run runs it on a fresh clone (and so proves it),
# the Dockerfile's builder stage runs it to make the image's environment.
#
# usage: scripts/install.sh [-e|--editable] VENV [EXTRAS]
#   VENV    the virtual environment, created with python3 -m venv when it does not exist yet
#   EXTRAS  comma-separated extras of pyproject.toml ("st,test"); none: the service alone
#
# With the st extra, torch (the version in constraints.txt) is installed first, by itself, from
# TORCH_INDEX_URL: pip's own sources when it is empty (the default; there, a local CPU wheel
# through pip's configured find-links), or an index such as https://download.pytorch.org/whl/cpu
# (the Dockerfile's), so that pip never picks the CUDA build. Its requirements come with the
# project, pinned like everything else, and `pip check` closes the install.
set -euo pipefail

usage() {
    sed -n '/^# usage:/,/^#$/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
    exit "$1"
}

editable=()
case "${1:-}" in
-e | --editable) editable=(-e) && shift ;;
-h | --help) usage 0 ;;
esac
[ $# -ge 1 ] && [ $# -le 2 ] || usage 2
venv=$1
extras=${2:-}
root=$(cd "$(dirname "$0")/.." && pwd)
constraints=(-c "$root/constraints.txt")

[ -x "$venv/bin/python" ] || "${PYTHON:-python3}" -m venv "$venv"
pip=("$venv/bin/python" -m pip)

case ",$extras," in
*,st,*)
    torch_source=()
    [ -z "${TORCH_INDEX_URL:-}" ] || torch_source=(--index-url "$TORCH_INDEX_URL")
    "${pip[@]}" install -q --no-deps "${constraints[@]}" "${torch_source[@]}" torch
    ;;
esac
"${pip[@]}" install -q "${constraints[@]}" "${editable[@]}" "$root${extras:+[$extras]}"
"${pip[@]}" check
