#!/usr/bin/env bash
# Install POS Agent on a store PC (run as root from an unpacked release or a clone):
#
#   sudo deploy/install.sh                 install or upgrade, enable and start posagent.service
#   sudo deploy/install.sh --rollback      put the version before the last upgrade back, and restart
#   sudo deploy/install.sh --root DIR      stage into DIR (an image root): the account goes into DIR's
#                                          own /etc/passwd (systemd-sysusers --root), never the host's;
#                                          the virtualenv runs from /opt/posagent once DIR is the image's /;
#                                          no systemctl, no udev reload
#
# Options:
#   --root DIR        install below DIR instead of /
#   --user NAME       service account (default posagent)
#   --python PATH     Python >= 3.11 for the virtualenv (default: /usr/bin/python3.11, /usr/bin/python3, else
#                     python3.11 or python3 on PATH); the service account must be able to run it (checked
#                     first: nothing changes if it cannot)
#   --skip-venv       do not (re)build /opt/posagent/venv (tests, offline upgrades of config only)
#   --no-start        install and enable, but do not start the service
#   --rollback        swap /opt/posagent/venv.previous (kept by the last upgrade) back in, restart
#
# What it does: creates the service account (system user, no shell, member of dialout lp input
# video; also declared in /usr/lib/sysusers.d/posagent.conf), a virtualenv in /opt/posagent/venv
# with the agent, /etc/posagent with the config (kept if present), the ECR token and the at-rest
# key (generated once, mode 0600, owned by the account), /var/lib/posagent (0750), udev rules for
# printers and scanners, and the systemd unit.
# Upgrades: the new virtualenv is built and tried beside the running one (venv.new), then swapped in
# in one step; the old one is kept as venv.previous. A failure or an interruption (Ctrl-C, SIGTERM,
# a lost SSH session) before the swap leaves /opt/posagent/venv as it was.
set -euo pipefail

src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root=""
user="posagent"
python=""
skip_venv=0
start=1
rollback=0

while [ $# -gt 0 ]; do
    case "$1" in
        --root) root="${2:?--root needs a directory}"; shift 2 ;;
        --user) user="${2:?--user needs a name}"; shift 2 ;;
        --python) python="${2:?--python needs a path}"; shift 2 ;;
        --skip-venv) skip_venv=1; shift ;;
        --no-start) start=0; shift ;;
        --rollback) rollback=1; shift ;;
        -h|--help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

say() { printf '[install] %s\n' "$*"; }
die() { printf '[install] error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = "0" ] || die "run as root (sudo $0)"
if [ -z "$root" ]; then  # one installer at a time on this PC: two would build into one venv.new, or swap twice
    lock_file=/run/lock/posagent-install.lock
    exec 9>>"$lock_file" || die "cannot open the lock $lock_file"
    flock -n 9 || die "another deploy/install.sh is running on this PC (lock $lock_file): wait for it to finish"
fi
root="${root%/}"
[ -z "$root" ] || root="$(realpath -m "$root")"  # absolute: the venv's scripts name it, relocate_venv.py finds it
etc="$root/etc/posagent"
opt="$root/opt/posagent"
state="$root/var/lib/posagent"
unit_dir="$root/etc/systemd/system"
udev_dir="$root/etc/udev/rules.d"
venv="$opt/venv"                      # what the service runs
venv_new="$opt/venv.new"              # an upgrade is built and tried here first
venv_previous="$opt/venv.previous"    # the version the last upgrade replaced (--rollback)
final_venv=/opt/posagent/venv         # its path when it runs (under --root too: DIR becomes /)
python_fix="install Python 3.11 from Debian (apt-get install python3.11 python3.11-venv) and pass --python /usr/bin/python3.11"

# The service account's uid:gid where it exists already (on this host, or in DIR's /etc/passwd). Until it
# exists, nobody stands for it: a new system account has no more rights than nobody on paths it does not own.
account_ids() {
    if [ -n "$root" ]; then
        awk -F: -v u="$user" '$1 == u { print $3 ":" $4 }' "$root/etc/passwd" 2>/dev/null || true
    elif id "$user" >/dev/null 2>&1; then
        echo "$(id -u "$user"):$(id -g "$user")"
    fi
}
as_account() {  # "$@" with the service account's rights only, a clean environment, in /
    local ids groups=--clear-groups
    ids="$(account_ids)"
    ids="${ids:-65534:65534}"
    if [ -z "$root" ] && id "$user" >/dev/null 2>&1; then groups=--init-groups; fi
    (cd / && setpriv --reuid="${ids%%:*}" --regid="${ids##*:}" "$groups" -- \
        env -i PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 "$@")
}
# A virtualenv is tried as the account on a real install. Under --root it is tried as root: on this host it
# sits below DIR, whose parents say nothing about the image (the interpreter's own path was checked first).
as_verifier() {
    if [ -n "$root" ]; then (cd / && env -i PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 "$@"); else as_account "$@"; fi
}
blocked_at() {  # the first directory on the way to $1 (or to what it links to) the account cannot enter
    local path dir part
    local -a parts
    for path in "$1" "$(realpath -m "$1")"; do
        dir=""
        IFS=/ read -ra parts <<<"${path#/}"
        for part in "${parts[@]:0:${#parts[@]}-1}"; do
            dir="$dir/$part"
            if ! as_account test -x "$dir"; then
                echo "$dir ($(stat -c 'owner %U, mode %a' "$dir")) is closed to it"
                return
            fi
        done
    done
}
last_line() { printf '%s\n' "$1" | grep -v '^[[:space:]]*$' | tail -n 1; }
check_interpreter() {  # refuse, before anything changes, an interpreter the service could not run
    local py="$1" out where who="$user"
    [ -n "$(account_ids)" ] || who="$user (not created yet: tried as nobody)"
    [ -f "$py" ] && [ -x "$py" ] || die "$py is not an executable file; $python_fix"
    "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null \
        || die "$py is not Python >= 3.11; $python_fix"
    "$py" -c 'import venv, ensurepip' 2>/dev/null || die "$py cannot make virtualenvs (no ensurepip); $python_fix"
    if ! out="$(as_account "$py" -c 'import sys, ssl, sqlite3, socket' 2>&1)"; then
        where="$(blocked_at "$py")"
        die "the service account $who cannot run $py: ${where:-$(last_line "$out")}. Nothing was changed; $python_fix"
    fi
    if [ -n "$root" ]; then
        say "$py runs as $who on this host; the image must have it at the same path, with the same modes"
        image_path_check "$py"
    fi
}
# Under --root: the image's own copy of the interpreter's path, judged from its modes (no process can run as the
# image's account inside DIR). Symlinks inside DIR are not followed: only the directories on the literal path.
image_path_check() {
    local py="$1" dir="" part ids uid gid mode owner group bit
    local -a parts
    if [ ! -e "$root$py" ] && [ ! -L "$root$py" ]; then
        say "warning: the image has no $py yet: the service will not start until it does (install python3.11 in it)"
        return
    fi
    ids="$(account_ids)"
    uid="${ids%%:*}"
    gid="${ids##*:}"
    IFS=/ read -ra parts <<<"${py#/}"
    for part in "${parts[@]:0:${#parts[@]}-1}"; do
        dir="$dir/$part"
        [ ! -L "$root$dir" ] && [ -d "$root$dir" ] || continue
        read -r mode owner group <<<"$(stat -c '%a %u %g' "$root$dir")"
        if [ -n "$uid" ] && [ "$owner" = "$uid" ]; then bit=$(( 8#$mode >> 6 & 1 ))
        elif [ -n "$gid" ] && [ "$group" = "$gid" ]; then bit=$(( 8#$mode >> 3 & 1 ))
        else bit=$(( 8#$mode & 1 )); fi
        [ "$bit" = "1" ] || die "in the image, $dir (mode $mode) is closed to $user: it could not run $py. Nothing was changed; $python_fix"
    done
}
swap_dirs() { "$1" "$src/deploy/swap_dirs.py" "$2" "$3"; }  # python, a, b: exchanged in one step
verify_venv() {  # the agent imports and its command line starts, as the service will run it
    local out
    out="$(as_verifier "$1/bin/python" -m agent.cli.main --help 2>&1 >/dev/null)" || { last_line "$out"; return 1; }
}
under_systemd() { [ -z "$root" ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; }
restart_service() {  # fails when the service does not start (Type=notify: restart waits for it to be ready)
    if under_systemd && [ "$start" = "1" ]; then
        systemctl restart posagent.service
    fi
}

# Rollback: the version before the last upgrade back in place, in one step; nothing else changes.
if [ "$rollback" = "1" ]; then
    [ -d "$venv_previous" ] || die "no previous version to roll back to: $venv_previous is kept by an upgrade"
    problem="$(verify_venv "$venv_previous")" || die "$venv_previous does not run ($problem): nothing was changed"
    if [ -d "$venv" ]; then
        swap_dirs "$venv_previous/bin/python" "$venv_previous" "$venv" || die "could not swap the versions"
        say "rolled back: $venv is the previous version again; $venv_previous the one it replaced (--rollback again to undo)"
    else
        mv -T "$venv_previous" "$venv"
        say "rolled back: $venv is the previous version again"
    fi
    restart_service || die "the service did not start: journalctl -u posagent -n 100 (--rollback again undoes this)"
    exit 0
fi

# Before anything changes: an interpreter the service account can run.
if [ "$skip_venv" = "0" ]; then
    if [ -z "$python" ]; then
        # Debian's first: root's PATH may lead to a pyenv or conda build under /root that the service cannot run.
        for candidate in /usr/bin/python3.11 /usr/bin/python3 "$(command -v python3.11)" "$(command -v python3)"; do
            if [ -n "$candidate" ] && [ -x "$candidate" ]; then python="$candidate"; break; fi
        done
        [ -n "$python" ] || die "Python >= 3.11 not found; $python_fix"
    elif [ "${python#*/}" = "$python" ]; then
        found="$(command -v "$python" || true)"
        [ -n "$found" ] || die "Python $python not found on PATH; $python_fix"
        python="$found"
    fi
    python="$(realpath -s "$python")"  # absolute, symlinks kept: the virtualenv names this path
    check_interpreter "$python"
fi


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

# 2. The code: a virtualenv under /opt with the agent (not editable: the source may go away). Built and tried
# at venv.new, then swapped with the running one in one rename; until then /opt/posagent/venv is untouched.
mkdir -p "$opt"
if [ "$skip_venv" = "0" ]; then
    child=""
    committed=0
    upgraded=0
    interrupted() {
        trap '' INT TERM HUP
        if [ -n "$child" ]; then kill "$child" 2>/dev/null || true; wait "$child" 2>/dev/null || true; fi
        if [ "$committed" = "0" ]; then
            rm -rf "$venv_new"
            printf '[install] interrupted: %s is as it was\n' "$venv" >&2
        fi
        exit 130
    }
    # pip runs in the background and the script waits for it: a signal is acted on at once, not after pip.
    step() { "$@" & child=$!; local rc=0; wait "$child" || rc=$?; child=""; return "$rc"; }
    trap interrupted INT TERM HUP
    trap '[ "$committed" = "1" ] || rm -rf "$venv_new"' EXIT
    unchanged="${venv} is unchanged"
    [ -d "$venv" ] || unchanged="nothing was installed"
    rm -rf "$venv_new"  # left by a run that was killed outright
    say "building $venv_new with $python"
    step "$python" -m venv "$venv_new" --prompt posagent >&2 \
        || die "$python could not make a virtualenv (see above); $unchanged. $python_fix"
    step "$venv_new/bin/pip" install -q --disable-pip-version-check --upgrade pip >/dev/null \
        || die "pip could not update itself in $venv_new (see above); $unchanged"
    step "$venv_new/bin/pip" install -q --disable-pip-version-check "$src" \
        || die "pip could not install the agent (see above); $unchanged"
    problem="$(verify_venv "$venv_new")" || die "the new virtualenv does not run as $user: $problem; $unchanged"
    # The scripts' #! lines and pyvenv.cfg name the path the venv was built at (venv.new, and below DIR with
    # --root): point them at where it runs. The interpreter finds its venv from its own location, so the
    # venv itself works at either path.
    "$python" "$src/deploy/relocate_venv.py" "$venv_new" "$final_venv"
    trap '' INT TERM HUP  # the swap and its bookkeeping are never cut halfway
    if [ -d "$venv" ]; then
        swap_dirs "$python" "$venv_new" "$venv" || die "could not swap in the new version; $unchanged"
        committed=1
        rm -rf "$venv_previous"
        mv -T "$venv_new" "$venv_previous"
        if [ -z "$root" ] && ! problem="$(as_account "$venv/bin/posagent" --help 2>&1 >/dev/null)"; then
            swap_dirs "$python" "$venv_previous" "$venv"
            die "the new version does not start as $user ($(last_line "$problem")): the previous one is back in $venv"
        fi
        upgraded=1
        say "upgraded $venv; the version it replaced is kept in $venv_previous (deploy/install.sh --rollback)"
    else
        mv -T "$venv_new" "$venv"
        committed=1
    fi
    trap - INT TERM HUP
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
    if under_systemd; then
        systemctl daemon-reload
        systemctl enable posagent.service
        if ! restart_service; then
            # A new version that does not start is not left in place of one that did: put it back.
            [ "${upgraded:-0}" = "1" ] || die "the service did not start: journalctl -u posagent -n 100"
            say "the new version did not start: putting the previous one back"
            swap_dirs "$python" "$venv_previous" "$venv"
            restart_service || die "neither the new version nor the previous one starts: journalctl -u posagent -n 100" \
                "(the previous one is in $venv, the new one in $venv_previous)"
            die "the new version did not start (journalctl -u posagent -n 100): the previous one runs again;" \
                "the new one is in $venv_previous"
        fi
    else
        say "systemd is not running here: enable posagent.service on the target"
    fi
fi
say "done. Config: $etc/agent.toml  State: $state  Logs: journalctl -u posagent"
