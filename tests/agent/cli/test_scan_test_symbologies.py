"""`posagent scan-test --image` looks for the code types the camera would: QR unless told more."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli.main import main
from hardware_sim.camera import write_image
from tests.drivers.camera.barcodes import CARD, code128_frame


@pytest.mark.parametrize(("options", "found"), [([], 0), (["--symbology", "qrcode", "--symbology", "code128"], 1)])
def test_a_barcode_member_card_is_read_only_when_its_type_is_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], found: int
) -> None:
    image = tmp_path / "card.png"
    write_image(image, code128_frame())
    assert main(["scan-test", "--image", str(image), "--json", *options]) == 0
    [line] = capsys.readouterr().out.splitlines()
    codes = json.loads(line)["codes"]
    assert len(codes) == found
    assert all(code["code"].endswith(CARD[-4:]) for code in codes)  # shown masked, as unknown codes are


def test_an_unknown_type_is_a_usage_error_naming_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["scan-test", "--image", "x.png", "--symbology", "qr"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'qr'" in capsys.readouterr().err
