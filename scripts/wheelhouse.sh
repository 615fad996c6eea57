#!/usr/bin/env bash
# Installing zxjyck on a server that reaches no package index (docs/operations.md, "Offline installation").
#   scripts/wheelhouse.sh build DIR          on a machine with an index, with the server's Python version and
#                                            architecture: DIR gets a wheel of every package pinned in
#                                            requirements/service.txt (each checked against its sha256), the
#                                            zxjyck wheel, the lock as DIR/requirements.txt, and this script
#   DIR/wheelhouse.sh install DIR VENV       on the server: a new virtual environment VENV from DIR alone
#                                            (no index, no configured pip source, nothing built; the script
#                                            needs nothing else)
#   scripts/wheelhouse.sh check DIR          what CI runs: install DIR into a fresh environment with the
#                                            network cut off (where `unshare -n` works), then run its zxjyck
# PYTHON=python3.12 chooses the interpreter (default python3.11), for building and installing alike.
set -euo pipefail
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
repo=$(cd "$(dirname "$0")/.." && pwd)  # the checkout, for build and check
PY=${PYTHON:-python3.11}
usage() {
  echo "usage: scripts/wheelhouse.sh build DIR | install DIR VENV | check DIR" >&2
  exit 2
}

build() {
  local dir=$1
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  cd "$repo"
  # pip from a throwaway environment: Debian's python3 may have no pip of its own
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  "$PY" -m venv "$work/pip"
  local pip=("$work/pip/bin/python" -m pip --disable-pip-version-check)
  # wheels only: the server needs no compiler and no build backend
  "${pip[@]}" download -q --require-hashes --no-deps --only-binary :all: -r requirements/service.txt -d "$dir"
  # zxjyck's own wheel, built with the pinned setuptools and wheel just downloaded (they are in the lock), from a
  # copy of the checkout's files: a build/ folder left in the checkout would bring back files deleted since
  rm -f "$dir"/zxjyck-*.whl
  mkdir "$work/src"
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z | tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -C "$work/src" -xf -
  else
    tar --exclude=./build --exclude=./.venv --exclude=./var -cf - . | tar -C "$work/src" -xf -
  fi
  "${pip[@]}" wheel -q --no-deps --no-index --find-links "$dir" -w "$dir" "$work/src"
  cp requirements/service.txt "$dir/requirements.txt"
  cp "$self" "$dir/wheelhouse.sh"
  echo "wheelhouse $dir: $(find "$dir" -name '*.whl' | wc -l) wheels, $(du -sh "$dir" | cut -f1) / 离线安装包已生成"
}

install() {
  local dir=$1 venv=$2
  [ -f "$dir/requirements.txt" ] || { echo "wheelhouse: $dir/requirements.txt missing: not a wheelhouse" >&2; exit 1; }
  "$PY" -m venv "$venv"
  # DIR is the only source: no index, and neither pip.conf nor PIP_* variables add one
  local pip=(env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL -u PIP_CONSTRAINT PIP_CONFIG_FILE=/dev/null
    "$venv/bin/python" -m pip --disable-pip-version-check install -q --no-index --find-links "$dir" --no-deps)
  "${pip[@]}" --require-hashes -r "$dir/requirements.txt"
  "${pip[@]}" zxjyck
  echo "installed into $venv: $("$venv/bin/zxjyck" --help >/dev/null && echo "$venv/bin/zxjyck") / 已安装"
}

check() {
  local dir=$1 offline=()
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # the network cut off for the install and for every command after it: nothing is fetched, then or at run time
  if unshare -n true 2>/dev/null; then
    offline=(unshare -n)
  else
    echo "wheelhouse: unshare -n unavailable: the index is switched off, the network is not" >&2
  fi
  "${offline[@]}" bash "$dir/wheelhouse.sh" install "$dir" "$work/venv"
  local zx=$work/venv/bin/zxjyck
  "${offline[@]}" "$zx" --help >/dev/null
  if "$zx" --help | grep -q -- "--version"; then "${offline[@]}" "$zx" --version; fi
  # the embedded default configuration in an empty folder: store created and migrated, folders, LibreOffice
  mkdir "$work/site"
  cp "$repo/config.toml" "$work/site/"
  if "$zx" --help | grep -qE '^ +init '; then (cd "$work/site" && "${offline[@]}" "$zx" init); fi
  (cd "$work/site" && "${offline[@]}" "$zx" check)
  # only the headless OpenCV, and the OCR stack imports (its models ship in the wheel)
  "${offline[@]}" "$work/venv/bin/python" - <<'EOF'
from importlib import metadata

import cv2  # noqa: F401
import rapidocr_onnxruntime  # noqa: F401

names = {dist.metadata["Name"].lower() for dist in metadata.distributions()}
assert "opencv-python" not in names, "opencv-python installed"
assert "opencv-python-headless" in names, "opencv-python-headless missing"
print(f"{len(names)} packages, OpenCV headless {cv2.__version__} / 离线安装检查通过")
EOF
}

case "${1:-}" in
  build) [ "$#" -eq 2 ] || usage; build "$2" ;;
  install) [ "$#" -eq 3 ] || usage; install "$2" "$3" ;;
  check) [ "$#" -eq 2 ] || usage; check "$2" ;;
  *) usage ;;
esac
