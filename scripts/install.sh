#!/usr/bin/env bash
# Install what zxjyck and its tests need on a fresh Debian machine (idempotent).
#   scripts/install.sh          the service (pip)
#   scripts/install.sh --dev    plus what the tests use: Dovecot, LibreOffice, Chromium, CJK fonts, and a
#                               running PostgreSQL
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# Debian packages the tests need:
#   dovecot-imapd                  the IMAP tests run their own Dovecot on a loopback port
#   libreoffice-*-nogui            the .doc/.wps/.rtf conversion branch, real-writer fixtures, printed workbooks
#   chromium, chromium-driver      the console's browser tests and the digest renders (never a downloaded browser)
#   fonts-noto-cjk                 Chinese in screenshots, printed workbooks and the scanned-form fixtures
#   poppler-data                   CJK text in the PDFs the dossier writes, when rendered to check them
#   systemd                        `systemd-analyze verify` on the units of deploy/ (tests/test_units.py)
#   nginx                          real nginx in front of `zxjyck web` (tests/test_proxy.py); never started as a service
#   faketime                       the tests of the service's time run again under a shifted host clock
DEV_APT="dovecot-imapd libreoffice-calc-nogui libreoffice-writer-nogui chromium chromium-driver fonts-noto-cjk
poppler-data poppler-utils faketime systemd nginx"
if [ "${1:-}" = "--dev" ]; then
  missing=""
  for pkg in $DEV_APT; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
  done
  if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
  # Debian's chromium for the console's browser tests (pytest -m browser); never a downloaded browser.
  if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-noto-cjk >/dev/null
  fi
  # axe-core (npm) for the console's accessibility tests (tests/test_console_a11y.py): its axe.min.js is
  # vendored into .vendor/axe-core/ here, at install time; the tests never download anything.
  AXE_VERSION=4.10.3
  if ! grep -qs "version=\"$AXE_VERSION\"" .vendor/axe-core/axe.min.js; then
    if ! command -v npm >/dev/null 2>&1; then
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends npm >/dev/null
    fi
    axe_tmp=$(mktemp -d)
    (cd "$axe_tmp" && npm pack --silent "axe-core@$AXE_VERSION" >/dev/null && tar -xzf axe-core-*.tgz)
    mkdir -p .vendor/axe-core
    cp "$axe_tmp/package/axe.min.js" "$axe_tmp/package/LICENSE" .vendor/axe-core/
    rm -rf "$axe_tmp"
  fi
  # Debian starts the packaged dovecot; the tests run their own on a loopback port.
  if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
  fi
  $PY -m pip install -q --disable-pip-version-check -e '.[dev,postgres]'
else
  $PY -m pip install -q --disable-pip-version-check -e .
fi
# rapidocr-onnxruntime declares the full opencv-python, which needs libGL: keep only the headless build
if $PY -m pip show -q opencv-python >/dev/null 2>&1; then
  $PY -m pip uninstall -q -y opencv-python
  $PY -m pip install -q --disable-pip-version-check --force-reinstall --no-deps opencv-python-headless
fi
