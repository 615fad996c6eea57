#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what it needs (into ./.venv, from the lock), lints and type-checks, then
# the unit tests (in-process, under a minute: a broken layer fails fast) and the integration tests (Dovecot,
# PostgreSQL, SMTP, LibreOffice, Chromium, sandbox and OCR workers). With arguments, one pytest run with them
# instead, e.g. `bash scripts/test.sh -m "not integration"` or `bash scripts/test.sh tests/test_rules.py`.
# Everything runs on .venv's Python; .venv/bin comes first on PATH, so the `zxjyck` and `python3` that tests
# start as subprocesses are the environment's too.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --dev
export PATH="$PWD/.venv/bin:$PATH" VIRTUAL_ENV="$PWD/.venv"
py=.venv/bin/python
$py -m ruff check .
.venv/bin/lint-imports --no-cache  # the import contracts of pyproject.toml: layers, no cycles
$py -m mypy  # the packages and rules of [tool.mypy] in pyproject.toml
if [ "$#" -gt 0 ]; then
  exec $py -m pytest -p no:cacheprovider "$@"
fi
$py -m pytest -p no:cacheprovider -m "not integration"
$py -m pytest -p no:cacheprovider -m integration
# The suite passes at any hour: the unit tests again, with the host's clock (libfaketime) set just past a
# Monday deadline (16:00:30 Beijing), the hour a daemon starts by queuing reminders. (The integration tests
# start their processes on a clock of their own, ZXJYCK_NOW; libfaketime upsets the timed waits of the
# processes and servers they start, so they are not run under it.)
exec env TZ=UTC faketime -f "@2026-12-07 08:00:30" $py -m pytest -p no:cacheprovider -q -m "not integration"
