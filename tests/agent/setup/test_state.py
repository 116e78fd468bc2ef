"""The state file beside a spec: request_id kept across runs, image ids by content, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.setup.state import (
    StateError,
    TemplateState,
    UploadedImage,
    load_state,
    new_request_id,
    save_state,
    sha256_hex,
    state_path_for,
)


def test_the_state_file_sits_beside_the_spec() -> None:
    assert state_path_for(Path("/srv/shop/card-template.toml")) == Path("/srv/shop/card-template.state.json")


def test_request_ids_fit_the_api_and_do_not_repeat() -> None:
    ids = {new_request_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(len(i) == 32 and i.isalnum() for i in ids)


def test_no_state_yet_is_none(tmp_path: Path) -> None:
    assert load_state(tmp_path / "x.state.json") is None


def test_round_trip_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "spec.state.json"
    digest = sha256_hex(b"logo bytes")
    state = TemplateState("a" * 32, spec_sha256="f" * 64, images={digest: UploadedImage("IMG1", "logo.png")})
    save_state(path, state)
    assert load_state(path) == state
    state.template_id = "20261125000000000000000000000001"
    save_state(path, state)
    assert load_state(path) == state
    assert json.loads(path.read_text())["template_id"] == "20261125000000000000000000000001"
    assert [p.name for p in tmp_path.iterdir()] == ["spec.state.json"]  # no temp files left behind


@pytest.mark.parametrize(
    "content",
    ["not json", "[]", '{"version": 99, "request_id": "r"}', '{"version": 1}',
     '{"version": 1, "request_id": "r", "images": {"x": {"file": "a.png"}}}',
     '{"version": 1, "request_id": "r", "template_id": 5}'],
)  # fmt: skip
def test_an_unusable_state_file_is_an_error_and_is_left_alone(tmp_path: Path, content: str) -> None:
    path = tmp_path / "spec.state.json"
    path.write_text(content)
    with pytest.raises(StateError, match="unusable state file"):
        load_state(path)
    assert path.read_text() == content


def test_a_failed_write_keeps_the_previous_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "spec.state.json"
    save_state(path, TemplateState("first"))

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("agent.atomic_file.os.replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        save_state(path, TemplateState("second"))
    monkeypatch.undo()
    loaded = load_state(path)
    assert loaded is not None and loaded.request_id == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["spec.state.json"]
