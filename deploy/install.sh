#!/usr/bin/env bash
# Install POS Agent on a store PC (run as root from an unpacked release or a clone):
#
#   sudo deploy/install.sh                 install or upgrade, enable and start posagent.service
#   sudo deploy/install.sh --root DIR      stage into DIR (an image root): the account goes into DIR's
#                                          own /etc/passwd (systemd-sysusers --root), never the host's;
#                                          the virtualenv runs from /opt/posagent once DIR is the image's /;
#                                          no systemctl, no udev reload
#
# Options:
#   --root DIR        install below DIR instead of /
#   --user NAME       service account (default posagent)
#   --python PATH     Python >= 3.11 for the virtualenv (default: python3.11 or python3)
#   --skip-venv       do not (re)build /opt/posagent/venv (tests, offline upgrades of config only)
#   --no-start        install and enable, but do not start the service
#
# What it does: creates the service account (system user, no shell, member of dialout lp input
# video; also declared in /usr/lib/sysusers.d/posagent.conf), a virtualenv in /opt/posagent/venv
# with the agent, /etc/posagent with the config (kept if present), the ECR token and the at-rest
# key (generated once, mode 0600, owned by the account), /var/lib/posagent (0750), udev rules for
# printers and scanners, and the systemd unit.
set -euo pipefail

src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root=""
user="posagent"
python=""
skip_venv=0
start=1

while [ $# -gt 0 ]; do
    case "$1" in
        --root) root="${2:?--root needs a directory}"; shift 2 ;;
        --user) user="${2:?--user needs a name}"; shift 2 ;;
        --python) python="${2:?--python needs a path}"; shift 2 ;;
        --skip-venv) skip_venv=1; shift ;;
        --no-start) start=0; shift ;;
        -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

say() { printf '[install] %s\n' "$*"; }
die() { printf '[install] error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = "0" ] || die "run as root (sudo $0)"
root="${root%/}"
[ -z "$root" ] || root="$(realpath -m "$root")"  # absolute: the venv's scripts name it, relocate_venv.py finds it
etc="$root/etc/posagent"
opt="$root/opt/posagent"
state="$root/var/lib/posagent"
unit_dir="$root/etc/systemd/system"
udev_dir="$root/etc/udev/rules.d"

# 1. The service account: a system user with no login, in the device groups it needs. Declared for
# systemd-sysusers too (the standard way): it makes the account at boot if an image lacks it.
sysusers_dir="$root/usr/lib/sysusers.d"
install -d -m 0755 "$sysusers_dir"
printf '%s\n' "# POS Agent's service account (deploy/install.sh); systemd-sysusers creates what is missing." \
    "u $user - \"POS Agent\" /var/lib/posagent /usr/sbin/nologin" \
    "m $user dialout" "m $user lp" "m $user input" "m $user video" >"$sysusers_dir/posagent.conf"
chmod 0644 "$sysusers_dir/posagent.conf"
if [ -n "$root" ]; then
    # Staging an image: the account goes into DIR's own /etc/passwd and /etc/group, never the host's.
    command -v systemd-sysusers >/dev/null 2>&1 || die "--root needs systemd-sysusers (apt-get install systemd)"
    install -d -m 0755 "$root/etc"
    systemd-sysusers --root "$root" "$sysusers_dir/posagent.conf" >/dev/null
    uid="$(awk -F: -v u="$user" '$1 == u { print $3 }' "$root/etc/passwd")"
    gid="$(awk -F: -v u="$user" '$1 == u { print $4 }' "$root/etc/passwd")"
    [ -n "$uid" ] && [ -n "$gid" ] || die "systemd-sysusers did not create $user in $root/etc/passwd"
else
    if ! id "$user" >/dev/null 2>&1; then
        say "creating system user $user"
        useradd --system --user-group --home-dir /var/lib/posagent --no-create-home --shell /usr/sbin/nologin \
            --comment "POS Agent" "$user"
    fi
    for group in dialout lp input video; do
        getent group "$group" >/dev/null 2>&1 || groupadd --system "$group"
        usermod -a -G "$group" "$user"
    done
    uid="$(id -u "$user")"
    gid="$(id -g "$user")"
fi

# 2. The code: a virtualenv under /opt with the agent (not editable: the source may go away).
mkdir -p "$opt"
if [ "$skip_venv" = "0" ]; then
    if [ -z "$python" ]; then
        python="$(command -v python3.11 || command -v python3 || true)"
    fi
    [ -n "$python" ] || die "Python >= 3.11 not found (use --python)"
    "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || die "$python is older than 3.11"
    say "building $opt/venv with $python"
    "$python" -m venv "$opt/venv"
    "$opt/venv/bin/pip" install -q --disable-pip-version-check --upgrade pip >/dev/null
    "$opt/venv/bin/pip" install -q --disable-pip-version-check "$src"
    if [ -n "$root" ]; then
        # Built below DIR but run as /opt/posagent/venv once DIR is the image's /: the scripts' #! lines,
        # the activate scripts and pyvenv.cfg name the path they were built at. Point them at the final one.
        "$python" "$src/deploy/relocate_venv.py" "$opt/venv" /opt/posagent/venv
    fi
fi
mkdir -p "$opt/docs"
cp -r "$src/docs/." "$opt/docs/" 2>/dev/null || true
chown -R root:root "$opt"
chmod 0755 "$opt"
# The command on technicians' PATH (the link points at the final location, also under --root).
install -d -m 0755 "$root/usr/local/bin"
ln -sfn /opt/posagent/venv/bin/posagent "$root/usr/local/bin/posagent"

# 3. Configuration and secrets: kept on upgrade, generated once.
install -d -m 0750 -o root -g "$gid" "$etc"
install -d -m 0750 -o "$uid" -g "$gid" "$etc/keys"
if [ ! -f "$etc/agent.toml" ]; then
    install -m 0640 -o root -g "$gid" "$src/deploy/agent.example.toml" "$etc/agent.toml"
    say "wrote $etc/agent.toml: set alipay.app_id and the key files, then: posagent config check"
fi
secret() {  # path, generator command: a file only the service account can read
    local path="$1"; shift
    if [ ! -f "$path" ]; then
        (umask 077 && "$@" >"$path")
        say "generated $path"
    fi
    chown "$uid:$gid" "$path"
    chmod 0600 "$path"
}
secret "$etc/ecr_token" sh -c 'head -c 32 /dev/urandom | base64 | tr -d "/+=\n" | head -c 40; echo'
# AES-256 key for personal data in the outbox (the format offline_queue.crypto reads: Base64 of 32 bytes).
secret "$etc/outbox.key" sh -c 'head -c 32 /dev/urandom | base64 -w0; echo'

# 4. State.
install -d -m 0750 -o "$uid" -g "$gid" "$state"

# 5. Devices: udev rules for receipt printers and scanners.
install -d -m 0755 "$udev_dir"
install -m 0644 "$src/deploy/udev/60-posagent.rules" "$udev_dir/60-posagent.rules"

# 6. The unit.
install -d -m 0755 "$unit_dir"
sed "s/^User=posagent$/User=$user/; s/^Group=posagent$/Group=$user/" "$src/agent.service" >"$unit_dir/posagent.service"
chmod 0644 "$unit_dir/posagent.service"

if [ -z "$root" ]; then
    udevadm control --reload 2>/dev/null && udevadm trigger 2>/dev/null || say "udev not running: rules apply at next boot"
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        systemctl daemon-reload
        systemctl enable posagent.service
        if [ "$start" = "1" ]; then
            systemctl restart posagent.service || say "the service did not start: journalctl -u posagent"
        fi
    else
        say "systemd is not running here: enable posagent.service on the target"
    fi
fi
say "done. Config: $etc/agent.toml  State: $state  Logs: journalctl -u posagent"
