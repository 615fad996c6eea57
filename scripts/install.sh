#!/usr/bin/env bash
# Install what zxjyck and its tests need on a fresh Debian machine (idempotent).
#   scripts/install.sh          the service, into the virtual environment ./.venv
#   scripts/install.sh --dev    plus what the tests use: the dev tools (pytest, ruff, import-linter), Dovecot,
#                               LibreOffice, Chromium, CJK fonts, and a running PostgreSQL
# Python packages come from the hashed lock files in requirements/ (exact versions, every file checked against
# its sha256), never from the ranges of pyproject.toml, and go into ./.venv, never into the system Python
# (Debian 12 refuses that: PEP 668). Then run everything as .venv/bin/python, .venv/bin/zxjyck.
#   PYTHON=python3.12 scripts/install.sh     another interpreter (a name on PATH or a path) for .venv (default
#                                            python3.11); a .venv of another Python version is made anew
# scripts/lock.sh regenerates the lock files; scripts/wheelhouse.sh installs on a server with no index.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
VENV=.venv
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
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
if [ "${1:-}" = "--dev" ]; then
  missing=""
  for pkg in $DEV_APT; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
  done
  # shellcheck disable=SC2086
  [ -z "$missing" ] || apt_install $missing
  # Debian's chromium for the console's browser tests (pytest -m browser); never a downloaded browser.
  if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    apt_install chromium chromium-driver fonts-noto-cjk
  fi
  # axe-core (npm) for the console's accessibility tests (tests/test_console_a11y.py): its axe.min.js is
  # vendored into .vendor/axe-core/ here, at install time; the tests never download anything.
  AXE_VERSION=4.10.3
  if ! grep -qs "version=\"$AXE_VERSION\"" .vendor/axe-core/axe.min.js; then
    command -v npm >/dev/null 2>&1 || apt_install npm
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
  lock=requirements/dev.txt
else
  lock=requirements/service.txt
fi

if ! "$PY" -c "" >/dev/null 2>&1; then
  echo "install: $PY does not run; install it (Debian 12: apt-get install python3 python3-venv) or set PYTHON" >&2
  exit 1
fi
want=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ -x "$VENV/bin/python" ] && [ "$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" != "$want" ]; then
  echo "install: $VENV is not Python $want: making it anew / 重建虚拟环境"
  rm -rf "$VENV"
fi
if ! [ -x "$VENV/bin/python" ]; then
  # Debian's python3 has venv without ensurepip until python3-venv (python3.X-venv) is installed
  if ! "$PY" -c 'import ensurepip' >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    apt_install "python$want-venv"
  fi
  "$PY" -m venv "$VENV"
fi

# What is installed is recorded in .venv: a second run with the same lock, pyproject.toml and Python is a no-op.
# The dev set holds every service pin, so a --dev environment also serves the service.
stamp="$VENV/.zxjyck-installed"
digest() { cat "$1" pyproject.toml | sha256sum | cut -d' ' -f1; }
installed=$(cat "$stamp" 2>/dev/null || true)
if [ "$installed" = "$(digest "$lock") $lock" ] || [ "$installed" = "$(digest requirements/dev.txt) requirements/dev.txt" ]; then
  exit 0
fi
pip=("$VENV/bin/python" -m pip --disable-pip-version-check)
# --no-deps: the lock is the complete set (it leaves out the full opencv-python that rapidocr-onnxruntime
# declares: the headless build provides the same cv2 without libGL); --require-hashes: nothing unpinned
"${pip[@]}" install -q --require-hashes --no-deps -r "$lock"
# zxjyck itself, editable, built by the pinned setuptools of the lock (no build environment fetched)
"${pip[@]}" install -q --no-deps --no-build-isolation -e .
# a dependency added to pyproject.toml but not to the lock shows here: regenerate with scripts/lock.sh
if ! report=$("${pip[@]}" check 2>&1); then
  report=$(grep -v "requires opencv-python, which is not installed" <<<"$report" || true)
  if [ -n "$report" ]; then
    echo "$report" >&2
    echo "install: $lock does not match pyproject.toml; run: bash scripts/lock.sh / 锁定文件已过期" >&2
    exit 1
  fi
fi
echo "$(digest "$lock") $lock" > "$stamp"
