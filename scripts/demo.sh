#!/usr/bin/env bash
# The service's main job on the embedded default (config.toml): SQLite under ./var,
# the local Maildir ./mailbox, outgoing mail written to ./var/outbox as .eml files.
# Delivers the sample mail of fixtures/mail, re-dated, into ./mailbox (as a mail server would), runs one
# full cycle, and prints what it did: today's digest, the notices written, the next commands to try, and
# how to open the staff console on the same store with a demo account.
# Installs the service into ./.venv (scripts/install.sh) and runs its `zxjyck` and Python.
# ZXJYCK_DEMO_SKIP_INSTALL=1 skips the install (the tests run it so): then ./.venv is used if it exists, else
# the `zxjyck` and `python3` found on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${ZXJYCK_DEMO_SKIP_INSTALL:-}" = 1 ] || bash scripts/install.sh
if [ -x .venv/bin/zxjyck ]; then
  export PATH="$PWD/.venv/bin:$PATH"
  echo "zxjyck is ./.venv/bin/zxjyck (\`source .venv/bin/activate\` puts it on PATH) / 已安装到 ./.venv"
fi
mkdir -p mailbox/new mailbox/cur mailbox/tmp
# The sample mail of fixtures/mail is from February 2020; the demo re-dates it (yesterday, for the
# reporting week of today) so that replies are due and today's digest shows it. Built once a day.
today=$(TZ=Asia/Shanghai date +%F)
demo_mail="var/demo-mail/$today"
[ -d "$demo_mail" ] || python3 fixtures/build_mail.py --demo "$demo_mail" >/dev/null
n=0
for f in "$demo_mail"/*.eml; do
  n=$((n + 1))
  cp -p "$f" "mailbox/tmp/demo.$today.$n.$(basename "$f")"
  mv "mailbox/tmp/demo.$today.$n.$(basename "$f")" "mailbox/new/"
done
echo "delivered $n sample messages to ./mailbox / 已投递 $n 封示例邮件"
mkdir -p var/outbox
before=$(ls var/outbox)
zxjyck --config config.toml poll
zxjyck --config config.toml messages
zxjyck --config config.toml status || true
zxjyck --config config.toml check || true  # proves the configuration; a failed check is named in the table
echo
echo "==== 今日汇总 / today's staff digest (zxjyck digest) ===="
zxjyck --config config.toml digest
echo "==== 本次写出的通知 / notices this run wrote to ./var/outbox ===="
for name in $(ls var/outbox); do
  case $'\n'"$before"$'\n' in *$'\n'"$name"$'\n'*) continue ;; esac
  f="var/outbox/$name"
  echo "$f  $(python3 -c 'import sys, email, email.policy; print(email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)["Subject"])' "$f")"
done
held=$(zxjyck --config config.toml messages --status needs_review --json | python3 -c 'import json, sys; rows = json.load(sys.stdin); print(rows[0]["id"] if rows else 1)')
week=$(python3 -c 'from datetime import datetime; from zxjyck.calendar import DEFAULT_TIMEZONE, reporting_week, zone; print(reporting_week(datetime.now(zone(DEFAULT_TIMEZONE)).date())[0])')
echo
echo "==== 接下来可以试试 / next commands to try ===="
echo "  zxjyck show $held                  # the held message end to end / 查看待人工核对的邮件"
echo "  zxjyck messages --status needs_review"
echo "  zxjyck export --format xlsx --week $week --out exports/周报汇总-$week.xlsx"
echo "  zxjyck export --format xlsx --applications --out exports/平台申报汇总.xlsx"
echo "  zxjyck digest --send && zxjyck poll   # queue the digest for staff.digest_to, then send it / 发送汇总"
# A demo account for the console (made once, its password set again on every run); real accounts are made
# with `zxjyck user add NAME --role staff|admin`, the password read from stdin.
demo_user=demo
demo_password=demo-console
printf '%s\n' "$demo_password" | zxjyck --config config.toml user add "$demo_user" --role staff >/dev/null 2>&1 \
  || printf '%s\n' "$demo_password" | zxjyck --config config.toml user passwd "$demo_user" >/dev/null
echo
echo "==== 工作人员控制台 / the staff console ===="
echo "  zxjyck web                         # then open http://127.0.0.1:8080/ / 浏览器打开控制台"
echo "  账号 user: $demo_user    密码 password: $demo_password    (示例账号 demo account, role staff)"
