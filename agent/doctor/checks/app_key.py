"""The app key pair, checked locally: the private key signs and its own public half verifies.

Alipay's side cannot be checked offline (the `signature` check asks the gateway); what can be
caught here: an unusable private key, a stray `app_public_key.pem` from another pair (the one
pasted into the console), and Alipay's public key confused with the app's own.
"""

from __future__ import annotations

import contextlib
import secrets

from cryptography.hazmat.primitives.asymmetric import rsa

from agent.alipay.keys import PUBLIC_KEY_FILENAME, KeyFormatError, read_private_key_file, read_public_key_file
from agent.alipay.signing import sign_rsa2, verify_rsa2
from agent.doctor.context import Context
from agent.doctor.finding import Finding, fail, ok

NAME = "app_key"


def same_key(a: rsa.RSAPublicKey, b: rsa.RSAPublicKey) -> bool:
    return a.public_numbers() == b.public_numbers()


def signs_and_verifies(private: rsa.RSAPrivateKey) -> bool:
    probe = f"posagent-doctor-{secrets.token_hex(8)}"
    return verify_rsa2(probe.encode(), sign_rsa2(probe, private), private.public_key())


def check_app_key(ctx: Context) -> list[Finding]:
    alipay = ctx.agent_config.alipay
    try:
        # The file mode is the `key.app_private` finding's business: judge the key itself here.
        private = read_private_key_file(alipay.app_private_key_file, check_mode=False)
    except KeyFormatError as exc:
        return [fail(NAME, f"cannot check the app key pair: {exc}", "see the key.app_private finding")]
    if not signs_and_verifies(private):
        return [fail(NAME, "the app private key signs, but its own public half does not verify the signature",
                     "generate a new pair: posagent keys generate --out DIR")]  # fmt: skip
    own_public = private.public_key()
    findings: list[Finding] = []
    alipay_public = None  # certificate mode: the certificates check compares the certificates with the key
    if alipay.alipay_public_key_file is not None:
        with contextlib.suppress(KeyFormatError):  # reported by the key.alipay_public finding
            alipay_public = read_public_key_file(alipay.alipay_public_key_file)
    if alipay_public is not None and same_key(alipay_public, own_public):
        findings.append(fail(
            NAME, f"{alipay.alipay_public_key_file} holds the app's own public key, not Alipay's",
            "save the 'Alipay public key' the console shows (not the app public key) in that file"))  # fmt: skip
    sibling = alipay.app_private_key_file.with_name(PUBLIC_KEY_FILENAME)
    if sibling.exists():
        try:
            matches = same_key(read_public_key_file(sibling), own_public)
        except KeyFormatError as exc:
            findings.append(fail(NAME, f"{sibling} cannot be read: {exc}", f"remove or replace {sibling}"))
        else:
            if not matches:
                findings.append(fail(
                    NAME, f"{sibling} is not the public half of {alipay.app_private_key_file}: the console may "
                    "hold the key of another pair",
                    "configure the private key of that pair, or upload this key's public half to the console",
                ))  # fmt: skip
    if not findings:
        checked = f"; {sibling.name} matches" if sibling.exists() else ""
        findings.append(ok(NAME, f"the app private key signs and its public half verifies{checked}"))
    return findings
