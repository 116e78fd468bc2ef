"""Key and token files: present, readable, parseable, mode 0600, readable by the service user.

Only facts about the files are reported (path, mode, owner): never a byte of their content.
"""

from __future__ import annotations

import os
import pwd
import stat
from collections.abc import Callable
from pathlib import Path

from agent.alipay.certs import load_certificates
from agent.alipay.keys import KeyFormatError, load_private_key, load_public_key
from agent.daemon.preflight import ca_file_problem
from agent.doctor.context import Context
from agent.doctor.finding import Finding, Status, fail, ok, warn
from offline_queue import KeyFileError, load_key_file


def judge_secret_mode(name: str, path: Path, mode: int, *, group_tolerated: bool = False) -> Finding | None:
    """Secrets must be mode 0600: the daemon refuses keys that others (or, for keys, the group) can read.

    `group_tolerated`: the daemon accepts group bits for this file (the ECR token), so they only warn.
    """
    shown = f"{stat.S_IMODE(mode):04o}"
    refused = stat.S_IRWXO if group_tolerated else stat.S_IRWXG | stat.S_IRWXO
    if mode & refused:
        return fail(name, f"{path} is readable by other users (mode {shown}): the agent refuses it",
                    f"chmod 600 {path}")  # fmt: skip
    if mode & stat.S_IRWXG:
        return warn(name, f"{path} is readable by its group (mode {shown})", f"chmod 600 {path}")
    return None


def _owner_note(name: str, path: Path, info: os.stat_result, ctx: Context) -> Finding | None:
    """A 0600 file the service user does not own is a file the service cannot read (in the service's config:
    a development config is read by whoever runs it, and the read above already succeeded)."""
    if not ctx.judges_service:
        return None
    try:
        service_uid = pwd.getpwnam(ctx.service_user).pw_uid
    except KeyError:
        return None  # not installed as a service here: nothing to compare with
    if info.st_uid == service_uid:
        return None
    return fail(name, f"{path} is owned by uid {info.st_uid}, not by {ctx.service_user}: the service cannot read it",
                f"chown {ctx.service_user} {path}")  # fmt: skip


def check_file(
    name: str, path: Path, ctx: Context, *, secret: bool, parse: Callable[[bytes], object], what: str,
    group_tolerated: bool = False,
) -> Finding:
    try:
        info = path.stat()
        data = path.read_bytes()
    except FileNotFoundError:
        return fail(name, f"{what} not found: {path}", "create it (deploy/install.sh) or fix the path in the config")
    except OSError as exc:
        return fail(name, f"{what} {path} cannot be read by this user: {exc.strerror}",
                    "run the doctor as root or as the service user")  # fmt: skip
    mode_finding = judge_secret_mode(name, path, info.st_mode, group_tolerated=group_tolerated) if secret else None
    if mode_finding is not None and mode_finding.status is Status.FAIL:
        return mode_finding
    try:
        parse(data)
    except (KeyFormatError, KeyFileError, ValueError) as exc:
        return fail(name, f"{what} {path} is not usable: {exc}", "replace it with the right file")
    if mode_finding is not None:
        return mode_finding
    if secret and (note := _owner_note(name, path, info, ctx)) is not None:
        return note
    return ok(name, f"{what} {path} present" + (", mode 0600" if secret else "") + ", parses")


def _non_empty(data: bytes) -> None:
    if not data.strip():
        raise ValueError("the file is empty")


def _outbox_key(path: Path) -> Callable[[bytes], object]:
    return lambda _data: load_key_file(path)


def check_keys(ctx: Context) -> list[Finding]:
    config = ctx.agent_config
    alipay = config.alipay
    findings = [
        check_file("key.app_private", alipay.app_private_key_file, ctx, secret=True, parse=load_private_key,
                   what="app private key"),
        check_file("key.ecr_token", config.ecr.token_file, ctx, secret=True, parse=_non_empty, what="ECR token",
                   group_tolerated=True),
        check_file("key.outbox", config.outbox.key_file, ctx, secret=True, parse=_outbox_key(config.outbox.key_file),
                   what="outbox key"),
    ]  # fmt: skip
    if alipay.alipay_public_key_file is not None:
        findings.insert(1, check_file("key.alipay_public", alipay.alipay_public_key_file, ctx, secret=False,
                                      parse=load_public_key, what="Alipay public key"))  # fmt: skip
    certificate_files = (("key.app_cert", alipay.app_cert_file, "app public-key certificate"),
                         ("key.alipay_cert", alipay.alipay_cert_file, "Alipay public-key certificate"),
                         ("key.alipay_root_cert", alipay.alipay_root_cert_file, "Alipay root certificate bundle"))
    for name, path, what in certificate_files:  # certificate mode; chain and dates: the certificates check
        if path is not None:
            findings.insert(len(findings) - 2, check_file(name, path, ctx, secret=False, parse=_certificates(what),
                                                          what=what))  # fmt: skip
    if alipay.app_auth_token_file is not None:
        findings.append(check_file("key.app_auth_token", alipay.app_auth_token_file, ctx, secret=True,
                                   parse=_non_empty, what="app_auth_token"))  # fmt: skip
    fleet = config.fleet
    if fleet is not None:
        findings += [
            check_file("key.fleet", fleet.key_file, ctx, secret=True, parse=_outbox_key(fleet.key_file),
                       what="fleet key"),
            check_file("key.fleet_password", fleet.password_file, ctx, secret=True, parse=_non_empty,
                       what="fleet password", group_tolerated=True),
        ]  # fmt: skip
        if fleet.ca_file is not None:
            findings.append(check_file("key.fleet_ca", fleet.ca_file, ctx, secret=False,
                                       parse=_ca_bundle(fleet.ca_file), what="fleet CA file"))  # fmt: skip
    return findings


def _certificates(what: str) -> Callable[[bytes], object]:
    return lambda data: load_certificates(data, what)


def _ca_bundle(path: Path) -> Callable[[bytes], object]:
    def parse(_data: bytes) -> object:
        if (problem := ca_file_problem(path)) is not None:
            raise ValueError(problem.message)
        return None

    return parse
