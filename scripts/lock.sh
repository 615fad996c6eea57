#!/usr/bin/env bash
# Regenerate the pinned, hashed requirement sets that every install uses, from pyproject.toml:
#   requirements/service.txt   the service: runtime dependencies, the postgres extra, the build backend
#   requirements/dev.txt       the same pins plus the dev extra (tests, linters)
# Both are universal (one file for Python 3.11, 3.12 and later, any platform) and carry the sha256 of every
# file. Versions already pinned are kept; a new dependency gets the newest release that fits.
#   bash scripts/lock.sh                 after adding or changing a dependency in pyproject.toml
#   bash scripts/lock.sh --upgrade       move every pin to the newest release (then run the whole suite)
#   bash scripts/lock.sh --upgrade-package NAME
# The lock tool is uv, pinned here and installed into var/lock-tool (never into the system Python).
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.10
uv=var/lock-tool/bin/uv
if ! [ -x "$uv" ] || [ "$("$uv" --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  rm -rf var/lock-tool
  "${PYTHON:-python3.11}" -m venv var/lock-tool
  var/lock-tool/bin/python -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
fi
common=(--universal --python-version 3.11 --generate-hashes --excludes requirements/exclude.txt
  --custom-compile-command "bash scripts/lock.sh" --quiet "$@")
"$uv" pip compile pyproject.toml requirements/build.in --extra postgres "${common[@]}" -o requirements/service.txt
# the dev set is constrained to the service's pins: tests run on exactly the versions a server gets
"$uv" pip compile pyproject.toml requirements/build.in --extra postgres --extra dev -c requirements/service.txt \
  "${common[@]}" -o requirements/dev.txt
echo "requirements/service.txt and requirements/dev.txt written / 已生成锁定文件"
