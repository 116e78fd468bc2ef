#!/usr/bin/env bash
# Remove POS Agent from a store PC (run as root):
#
#   sudo deploy/uninstall.sh            stop and remove the service, code and udev rules;
#                                       keep /etc/posagent and /var/lib/posagent (config, keys, queued work)
#   sudo deploy/uninstall.sh --purge    also delete config, keys, the database and the service account
#
# Options: --root DIR (as for install.sh: the account is removed from DIR's /etc/passwd and
# /etc/group, never the host's), --user NAME (default posagent), --purge.
set -euo pipefail

root=""
user="posagent"
purge=0
while [ $# -gt 0 ]; do
    case "$1" in
        --root) root="${2:?--root needs a directory}"; shift 2 ;;
        --user) user="${2:?--user needs a name}"; shift 2 ;;
        --purge) purge=1; shift ;;
        -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "uninstall.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
say() { printf '[uninstall] %s\n' "$*"; }
[ "$(id -u)" = "0" ] || { echo "[uninstall] run as root" >&2; exit 1; }
root="${root%/}"

if [ -z "$root" ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now posagent.service 2>/dev/null || true
fi
rm -f "$root/etc/systemd/system/posagent.service" "$root/etc/udev/rules.d/60-posagent.rules" \
    "$root/usr/lib/sysusers.d/posagent.conf"
[ -z "$root" ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ] && systemctl daemon-reload
rm -rf "$root/opt/posagent"
if [ "$(readlink "$root/usr/local/bin/posagent" 2>/dev/null)" = /opt/posagent/venv/bin/posagent ]; then
    rm -f "$root/usr/local/bin/posagent"
fi
if [ "$purge" = "1" ]; then
    rm -rf "$root/etc/posagent" "$root/var/lib/posagent"
    if [ -n "$root" ]; then  # the image's account, in the image's files (--prefix: no chroot, no host file)
        if [ -f "$root/etc/passwd" ] && grep -q "^$user:" "$root/etc/passwd"; then
            userdel --prefix "$root" "$user" 2>/dev/null || true
        fi
        if [ -f "$root/etc/group" ] && grep -q "^$user:" "$root/etc/group"; then
            groupdel --prefix "$root" "$user" 2>/dev/null || true
        fi
    elif id "$user" >/dev/null 2>&1; then
        userdel "$user" 2>/dev/null || true
        getent group "$user" >/dev/null 2>&1 && groupdel "$user" 2>/dev/null || true
    fi
    say "removed everything, config, keys and data included"
else
    say "removed the service and code; kept $root/etc/posagent and $root/var/lib/posagent (--purge deletes them)"
fi
