from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from offline_queue import Outbox, create_key_file
from tests.offline_queue.helpers import POLICIES, FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return create_key_file(tmp_path / "outbox.key")


@pytest.fixture
def outbox(tmp_path: Path, clock: FakeClock, key_file: Path) -> Iterator[Outbox]:
    box = Outbox.open(tmp_path / "agent.db", key_file=key_file, policies=POLICIES, clock=clock, rng=random.Random(7))
    yield box
    box.close()
