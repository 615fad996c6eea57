#!/usr/bin/env bash
# The service's main job on the embedded default (config.toml): SQLite under ./var,
# the local Maildir ./mailbox, outgoing mail written to ./var/outbox as .eml files.
# Delivers the sample mail of fixtures/mail into ./mailbox (as a mail server would),
# runs one full cycle, and prints a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
mkdir -p mailbox/new mailbox/cur mailbox/tmp
n=0
for f in fixtures/mail/*.eml; do
  n=$((n + 1))
  cp "$f" "mailbox/tmp/demo.$n.$(basename "$f")"
  mv "mailbox/tmp/demo.$n.$(basename "$f")" "mailbox/new/"
done
echo "delivered $n sample messages to ./mailbox / 已投递 $n 封示例邮件"
zxjyck --config config.toml poll
zxjyck --config config.toml messages
zxjyck --config config.toml status || true
zxjyck --config config.toml check || true  # proves the configuration; a failed check is named in the table
echo "outgoing mail / 待发邮件: $(ls var/outbox 2>/dev/null | wc -l) file(s) in ./var/outbox"
