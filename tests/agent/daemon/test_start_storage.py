"""The daemon's start on a disk that fills up between the preflight and the database: one clear line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from agent.config import load_config
from agent.daemon.app import Agent, DatabaseUnusable
from tests.support.daemon import free_port, write_store_files
from tests.support.filesystems import fill, tmpfs


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "disk", "size=1m") as where:
        fill(where / "filler")
        yield where


def test_a_full_disk_at_the_database_is_named_with_its_mount(tmp_path: Path, full_disk: Path) -> None:
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()  # fmt: skip
    config_file = write_store_files(tmp_path, "http://127.0.0.1:9/gateway.do", pem, free_port())
    config_file.write_text(config_file.read_text().replace('state_dir = "state"', f'state_dir = "{full_disk}"'))
    agent = Agent(load_config(config_file))
    with pytest.raises(DatabaseUnusable) as info:
        agent._open_state()  # what start() does right after the preflight passed
    assert str(info.value).startswith(f"disk full: free space on {full_disk}")
