#!/usr/bin/env bash
# Install what zxjyck and its tests need on a fresh Debian machine (idempotent).
#   scripts/install.sh          the service (pip)
#   scripts/install.sh --dev    plus test tools, Dovecot, and a running PostgreSQL
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ "${1:-}" = "--dev" ]; then
  # Dovecot for the IMAP tests; LibreOffice (optional for the service) so the .doc/.wps/.rtf conversion
  # branch is tested too.
  if ! command -v dovecot >/dev/null 2>&1 || ! command -v soffice >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends dovecot-imapd libreoffice-calc-nogui \
      libreoffice-writer-nogui >/dev/null
  fi
  # Debian's chromium for the console's browser tests (pytest -m browser); never a downloaded browser.
  if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-noto-cjk >/dev/null
  fi
  # Debian starts the packaged dovecot; the tests run their own on a loopback port.
  if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
  fi
  $PY -m pip install -q --disable-pip-version-check -e '.[dev,postgres]'
else
  $PY -m pip install -q --disable-pip-version-check -e .
fi
