#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what it needs, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --dev
python3 -m ruff check .
lint-imports --no-cache  # the import contracts of pyproject.toml: layers, no cycles
exec python3 -m pytest -p no:cacheprovider "$@"
