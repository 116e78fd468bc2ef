"""[camera]: which code types are looked for, and whether empty frames are read again."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import ConfigError, parse_config
from tests.agent.config.test_config import GOOD

CAMERA = '\n[camera]\nsource = "/dev/video0"\n'


def test_by_default_the_camera_looks_for_qr_codes_only_and_retries_empty_frames(tmp_path: Path) -> None:
    config = parse_config(GOOD + CAMERA, source="agent.toml", base_dir=tmp_path)
    assert config.camera is not None
    assert config.camera.symbologies == ["qrcode"]
    assert config.camera.retry is True


def test_member_cards_printed_as_barcodes_can_be_added(tmp_path: Path) -> None:
    text = GOOD + CAMERA + 'symbologies = ["qrcode", "code128"]\nretry = false\n'
    config = parse_config(text, source="agent.toml", base_dir=tmp_path)
    assert config.camera is not None
    assert config.camera.symbologies == ["qrcode", "code128"]
    assert config.camera.retry is False


@pytest.mark.parametrize(("value", "words"), [('["qr"]', "'qrcode'"), ("[]", "at least one"), ('"qrcode"', "list")])
def test_an_unknown_or_empty_list_of_symbologies_is_refused(tmp_path: Path, value: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(GOOD + CAMERA + f"symbologies = {value}\n", source="agent.toml", base_dir=tmp_path)
    [problem] = info.value.problems
    assert problem.key.startswith("camera.symbologies")
    assert words in problem.message
