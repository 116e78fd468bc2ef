"""Certificate mode: the three files the Alipay console gives, checked together and against the clock.

Parse, chain (the Alipay certificate to the root bundle), dates (a warning 30 days before one ends),
the app certificate against the app private key. The signed probe (`signature` check) then shows that
Alipay accepts the app certificate's SN and that its replies verify with the Alipay certificate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from agent.alipay.certs import CertificateError, CertMode, build_cert_mode
from agent.alipay.keys import KeyFormatError, read_private_key_file
from agent.config import alipay_cert_store
from agent.config.load import cert_problem
from agent.doctor.context import Context
from agent.doctor.finding import Finding, fail, ok, warn

NAME = "certificates"
RENEW_FIX = ("renew it in the Alipay console before then (app settings -> interface signing), then replace the "
             "file; see 'Certificate mode' in docs/operations.md")  # fmt: skip


def judge_expiry(mode: CertMode, now: datetime) -> list[Finding]:
    """A warning for each certificate in use that ends within 30 days (pure)."""
    return [warn(f"{NAME}.expiry", f"the {what} (alipay.{key}) expires on {end:%Y-%m-%d} ({(end - now).days} days)",
                 RENEW_FIX) for key, what, end in mode.expiring(now, CertMode.EXPIRY_WARNING)]  # fmt: skip


@dataclass(frozen=True)
class CertificateFiles:
    app_cert: bytes
    alipay_cert: bytes
    roots: bytes


def judge_certificates(
    files: CertificateFiles, private_key_path: Path, *, now: datetime, stored: Sequence[bytes] = ()
) -> list[Finding]:
    try:
        private = read_private_key_file(private_key_path, check_mode=False)  # the mode: key.app_private
    except KeyFormatError as exc:
        return [fail(NAME, f"not checked: {exc}", "see the key.app_private finding")]
    try:
        mode = build_cert_mode(files.app_cert, files.alipay_cert, files.roots, private.public_key(), now=now,
                               stored_alipay_certs=stored)  # fmt: skip
    except CertificateError as exc:
        problem = cert_problem(str(exc))
        return [fail(NAME, f"{problem.key}: {problem.message}", problem.fix)]
    current = mode.alipay_certs[0]
    findings = [ok(NAME, f"the app certificate matches the app private key (SN {mode.app_cert_sn}); Alipay's "
                         f"certificate {current.sn} chains to the root bundle and is in date")]  # fmt: skip
    notice = mode.stand_in_notice()
    if notice:
        findings.append(warn(f"{NAME}.stand_in", f"alipay.alipay_cert_file: {notice}",
                             "download the current Alipay public-key certificate from the Alipay console and "
                             "replace the file; see 'Certificate mode' in docs/operations.md"))  # fmt: skip
    return findings + judge_expiry(mode, now)


def check_certificates(ctx: Context) -> list[Finding]:
    config = ctx.agent_config
    alipay = config.alipay
    if not alipay.cert_mode:
        return []
    files: list[bytes] = []
    for key in ("app_cert_file", "alipay_cert_file", "alipay_root_cert_file"):
        path = getattr(alipay, key)
        try:
            files.append(path.read_bytes())
        except OSError:
            return [fail(NAME, f"not checked: alipay.{key} cannot be read", "see the key.* findings")]
    now = datetime.fromtimestamp(ctx.clock(), UTC)
    stored = alipay_cert_store(config.paths.state_dir).load()
    return judge_certificates(CertificateFiles(*files), alipay.app_private_key_file, now=now, stored=stored)


__all__ = ["CertificateFiles", "check_certificates", "judge_certificates", "judge_expiry"]
