"""Keys in every form the Alipay console and key tool produce."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from agent.alipay.keys import (
    KeyFormatError,
    generate_app_key_pair,
    load_private_key,
    load_public_key,
    one_line_public_key,
    read_private_key_file,
)

from .conftest import KeySet, pkcs1_body, spki_body


def _same_private(a: rsa.RSAPrivateKey, b: rsa.RSAPrivateKey) -> bool:
    return a.private_numbers() == b.private_numbers()


def test_pkcs1_pem_pkcs8_pem_and_one_line_forms_load_the_same_key(keys: KeySet) -> None:
    key = keys.app_private
    pkcs1 = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    pkcs8 = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    pkcs8_one_line = "".join(pkcs8.decode().strip().splitlines()[1:-1])
    for form in (pkcs1, pkcs8, pkcs1_body(key), pkcs8_one_line, pkcs1.decode()):
        assert _same_private(load_private_key(form), key)


def test_public_key_forms_load(keys: KeySet) -> None:
    public = keys.alipay_private.public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    pkcs1 = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    for form in (pem, pkcs1, spki_body(public), one_line_public_key(public)):
        assert load_public_key(form).public_numbers() == public.public_numbers()


@pytest.mark.parametrize("text", ["", "hello", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "QUJD"])
def test_garbage_private_keys_raise_a_clear_error_without_the_text(text: str) -> None:
    with pytest.raises(KeyFormatError) as info:
        load_private_key(text)
    assert "AAAA" not in str(info.value)


def test_a_public_key_where_a_private_key_belongs_is_refused(keys: KeySet) -> None:
    with pytest.raises(KeyFormatError):
        load_private_key(spki_body(keys.app_private.public_key()))


def test_small_rsa_keys_are_refused_for_rsa2() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (the point of the test)
    pem = small.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(KeyFormatError, match="2048"):
        load_private_key(pem)


def test_generate_writes_a_0600_private_key_and_a_matching_one_line_public_key(tmp_path: Path) -> None:
    pair = generate_app_key_pair(tmp_path / "keys")
    assert stat.S_IMODE(pair.private_key_path.stat().st_mode) == 0o600
    private = read_private_key_file(pair.private_key_path)
    assert private.key_size == 2048
    assert load_public_key(pair.public_key_one_line).public_numbers() == private.public_key().public_numbers()
    assert "\n" not in pair.public_key_one_line


def test_generate_never_replaces_an_existing_key(tmp_path: Path) -> None:
    first = generate_app_key_pair(tmp_path)
    before = first.private_key_path.read_bytes()
    with pytest.raises(FileExistsError):
        generate_app_key_pair(tmp_path)
    assert first.private_key_path.read_bytes() == before


def test_world_readable_private_key_files_are_refused(tmp_path: Path) -> None:
    pair = generate_app_key_pair(tmp_path)
    os.chmod(pair.private_key_path, 0o644)
    with pytest.raises(KeyFormatError, match="chmod 600"):
        read_private_key_file(pair.private_key_path)


def test_missing_key_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(KeyFormatError, match="not found"):
        read_private_key_file(tmp_path / "nope.pem")


def test_the_same_key_text_is_parsed_once_and_a_changed_one_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """The start-up check and the start read the same key file: parsing (and checking) it costs ~0.1 s."""
    from tests.support.gateway import _APP_KEY

    pem = _APP_KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()) + b"\n\n\n"  # bytes no other test uses  # fmt: skip
    parsed: list[bytes] = []
    real = serialization.load_pem_private_key

    def counting(data: bytes, password: bytes | None) -> object:
        parsed.append(data)
        return real(data, password)

    monkeypatch.setattr(serialization, "load_pem_private_key", counting)
    first = load_private_key(pem)
    assert load_private_key(pem) is first
    assert len(parsed) == 1
    assert load_private_key(pem + b"\n") is not first  # a changed file is read again
    assert len(parsed) == 2


def test_a_bad_key_is_refused_every_time() -> None:
    for _ in range(2):
        with pytest.raises(KeyFormatError):
            load_private_key("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
