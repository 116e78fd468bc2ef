"""At-rest key file and AES-GCM sealing of single field values."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from offline_queue import KeyFileError, PayloadUnreadable, create_key_file, load_key_file
from offline_queue.crypto import binding


def test_key_file_is_created_0600_and_never_overwritten(tmp_path: Path) -> None:
    path = create_key_file(tmp_path / "k")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="already exists"):
        create_key_file(path)
    assert path.read_bytes() == before


def test_a_key_readable_by_others_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = create_key_file(tmp_path / "k")
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match=r"mode 0644; it must be 0600 \(chmod 600"):
        load_key_file(path)


def test_missing_and_malformed_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="missing"):
        load_key_file(tmp_path / "nope")
    bad = tmp_path / "bad"
    bad.write_text("not base64 at all!!\n")
    os.chmod(bad, 0o600)
    with pytest.raises(KeyFileError, match="not base64"):
        load_key_file(bad)
    short = tmp_path / "short"
    short.write_text("AAAA\n")
    os.chmod(short, 0o600)
    with pytest.raises(KeyFileError, match="expected 32"):
        load_key_file(short)


def test_sealed_values_round_trip_and_do_not_contain_the_plaintext(tmp_path: Path) -> None:
    cipher = load_key_file(create_key_file(tmp_path / "k"))
    where = binding("card.open", "serial-1", "phone")
    token = cipher.seal('"13800138000"', binding=where)
    assert "13800138000" not in token
    assert cipher.open(token, binding=where) == '"13800138000"'
    assert cipher.seal('"x"', binding=where) != cipher.seal('"x"', binding=where)  # fresh nonce each time


def test_a_value_moved_to_another_job_or_field_does_not_open(tmp_path: Path) -> None:
    cipher = load_key_file(create_key_file(tmp_path / "k"))
    token = cipher.seal("secret", binding=binding("card.open", "serial-1", "phone"))
    with pytest.raises(PayloadUnreadable):
        cipher.open(token, binding=binding("card.open", "serial-2", "phone"))
    with pytest.raises(PayloadUnreadable):
        cipher.open(token, binding=binding("card.open", "serial-1", "name"))


def test_another_key_or_a_damaged_value_does_not_open(tmp_path: Path) -> None:
    first = load_key_file(create_key_file(tmp_path / "k1"))
    second = load_key_file(create_key_file(tmp_path / "k2"))
    where = binding("k", "i", "f")
    token = first.seal("secret", binding=where)
    with pytest.raises(PayloadUnreadable):
        second.open(token, binding=where)
    with pytest.raises(PayloadUnreadable):
        first.open(token[:-4] + "AAAA", binding=where)
    with pytest.raises(PayloadUnreadable):
        first.open("v9:whatever", binding=where)


def test_the_cipher_never_shows_its_key(tmp_path: Path) -> None:
    cipher = load_key_file(create_key_file(tmp_path / "k"))
    assert repr(cipher) == "PayloadCipher(<key hidden>)"
