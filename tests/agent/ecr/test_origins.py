"""Origins, pairing codes and origin tokens, sans I/O: an injected clock and random source."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from agent.ecr.origin_store import OriginStore, OriginStoreError
from agent.ecr.origins import (
    CODE_ALPHABET,
    CODE_MAX_TRIES,
    CODE_VALID_SECONDS,
    CodeRefused,
    OriginBook,
    OriginError,
    Paired,
    RandomBytes,
    new_code,
    normalise_origin,
    show_code,
)

POS = "https://pos.example.com"
T0 = 1_800_000_000.0


def counting_random() -> RandomBytes:
    counter = itertools.count()
    return lambda n: bytes(next(counter) % 256 for _ in range(n))


@pytest.mark.parametrize(("given", "origin"), [
    ("https://pos.example.com", POS), ("HTTPS://POS.Example.COM", POS), ("https://pos.example.com:443", POS),
    ("https://pos.example.com/", POS), ("http://localhost:8080", "http://localhost:8080"),
    ("http://pos.example.com:80", "http://pos.example.com"), ("https://pos.example.com:8443", POS + ":8443"),
    ("https://[::1]:9000", "https://[::1]:9000"),
])  # fmt: skip
def test_origins_are_normalised(given: str, origin: str) -> None:
    assert normalise_origin(given) == origin


@pytest.mark.parametrize("bad", ["", "null", "pos.example.com", "ftp://pos.example.com", "https://pos.example.com/app",
                                 "https://pos.example.com?x=1", "https://user@pos.example.com", "https://",
                                 "https://pos.example.com:99999", "https://pös.example.com", "https://a b"])
def test_what_is_not_an_origin_is_refused_with_a_reason(bad: str) -> None:
    with pytest.raises(OriginError):
        normalise_origin(bad)


def test_codes_use_the_unambiguous_alphabet_evenly() -> None:
    code = new_code(counting_random())
    assert len(code) == 8 and set(code) <= set(CODE_ALPHABET)
    assert not set("01OIL") & set(CODE_ALPHABET)
    assert show_code("ABCDEFGH") == "ABCD-EFGH"
    # Bytes past the largest multiple of 31 are skipped, not folded onto the first symbols.
    assert new_code(lambda n: bytes([255] * 4 + [0] * (n - 4))) == CODE_ALPHABET[0] * 8


def test_a_code_pairs_once_and_gives_a_token_for_its_origin_only() -> None:
    book = OriginBook()
    code = book.start_pairing(POS, T0, counting_random())
    assert book.admits(POS, T0) and not book.admits("https://other.example", T0)
    paired = book.pair(POS, show_code(code).lower(), T0 + 10, counting_random())
    assert isinstance(paired, Paired) and paired.token.startswith("wpo_")
    assert book.token_origin(paired.token) == POS and book.token_origin(paired.token + "x") is None
    assert isinstance(book.pair(POS, code, T0 + 11, counting_random()), CodeRefused)
    assert paired.token not in json.dumps(book.to_json()) and code not in json.dumps(book.to_json())


def test_a_code_expires() -> None:
    book = OriginBook()
    code = book.start_pairing(POS, T0, counting_random())
    refused = book.pair(POS, code, T0 + CODE_VALID_SECONDS, counting_random())
    assert isinstance(refused, CodeRefused) and "expired" in refused.message
    assert not book.admits(POS, T0 + CODE_VALID_SECONDS)


def test_wrong_tries_are_counted_and_end_the_code() -> None:
    book = OriginBook()
    code = book.start_pairing(POS, T0, counting_random())
    wrong = "2222-2222" if code != "22222222" else "3333-3333"
    messages = [book.pair(POS, wrong, T0, counting_random()) for _ in range(CODE_MAX_TRIES)]
    assert all(isinstance(m, CodeRefused) and wrong not in m.message for m in messages)
    assert isinstance(book.pair(POS, code, T0, counting_random()), CodeRefused)
    assert not book.admits(POS, T0)


def test_pairing_again_replaces_the_token_and_revoking_forgets_it() -> None:
    book = OriginBook()
    first = book.pair(POS, book.start_pairing(POS, T0, counting_random()), T0, counting_random())
    second = book.pair(POS, book.start_pairing(POS, T0 + 1, counting_random()), T0 + 1,
                       lambda n: b"\x07" * n)  # fmt: skip
    assert isinstance(first, Paired) and isinstance(second, Paired)
    assert book.token_origin(first.token) is None and book.token_origin(second.token) == POS
    assert book.revoke(POS) and book.token_origin(second.token) is None and not book.revoke(POS)


def test_the_store_round_trips_the_book_with_mode_0600(tmp_path: Path) -> None:
    store = OriginStore(tmp_path / "state" / "ecr_origins.json")
    assert store.current().paired == {}
    code = store.update(lambda book: book.start_pairing(POS, T0, counting_random()))
    other = OriginStore(store.path)  # another process: the daemon
    assert other.current().admits(POS, T0)
    other.update(lambda book: book.pair(POS, code, T0, counting_random()))
    assert POS in store.current().paired  # the first one sees the change (mtime, size, inode)
    assert store.path.stat().st_mode & 0o777 == 0o600


def test_a_damaged_store_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "ecr_origins.json"
    path.write_text("{not json")
    with pytest.raises(OriginStoreError, match="damaged"):
        OriginStore(path).current()
    path.write_text('{"version": 1, "paired": [{"origin": 3}]}')
    with pytest.raises(OriginStoreError, match="damaged"):
        OriginStore(path).current()
