"""Which code types the camera looks for: QR only unless the config adds more, in one zxing-cpp read.

Each symbology searched costs time on every frame; QR alone reads Alipay payment codes (the phone
shows each as a QR and as a barcode) and QR member cards. Member cards printed as 1D barcodes need
code128 (or another 1D type) in the config.
"""

from __future__ import annotations

import pytest
import zxingcpp

from drivers.camera import decoders
from drivers.camera.decoders import ZxingDecoder, make_decoder
from hardware_sim.camera import Scene, render
from tests.drivers.camera.barcodes import CARD, code128_frame
from tests.drivers.camera.zxing_spy import ReadSpy


@pytest.mark.parametrize("name", ["zxing", "pyzbar"])
def test_by_default_only_qr_codes_are_looked_for(name: str) -> None:
    decoder = make_decoder(name)
    assert decoder.decode(code128_frame()) == []
    assert decoder.decode(render(Scene("VIP0001234"))) == ["VIP0001234"]


@pytest.mark.parametrize("name", ["zxing", "pyzbar"])
def test_a_member_card_barcode_is_read_once_code128_is_configured(name: str) -> None:
    decoder = make_decoder(name, ["qrcode", "code128"])
    assert decoder.decode(code128_frame()) == [CARD]
    assert decoder.decode(render(Scene("VIP0001234"))) == ["VIP0001234"]


@pytest.mark.parametrize(
    ("symbologies", "formats"),
    [(["qrcode"], "QRCode"), (["qrcode", "code128"], "QRCode,Code128"), (["code128", "ean13"], "Code128,EAN13")],
)
def test_zxing_is_asked_once_per_frame_for_exactly_the_configured_types(
    reads: ReadSpy, symbologies: list[str], formats: str
) -> None:
    content = "VIP0001234" if "qrcode" in symbologies else None
    decoded = ZxingDecoder(symbologies).decode(render(Scene(content)))
    if content is not None:
        assert decoded == [content]
        assert len(reads.calls) == 1  # no second search for other types
    assert {str(call["formats"]) for call in reads.calls} == {str(zxingcpp.barcode_formats_from_str(formats))}


def test_the_default_decoder_asks_zxing_for_qr_codes_only(reads: ReadSpy) -> None:
    assert ZxingDecoder().decode(render(Scene("VIP0001234"))) == ["VIP0001234"]
    assert [str(call["formats"]) for call in reads.calls] == [str(zxingcpp.barcode_formats_from_str("QRCode"))]


def test_every_configurable_symbology_exists_in_both_libraries() -> None:
    for name in ("zxing", "pyzbar"):
        make_decoder(name, list(decoders.SYMBOLOGIES))


@pytest.mark.parametrize("symbologies", [["qr"], ["qrcode", "Code128"], []])
def test_an_unknown_or_missing_symbology_is_a_clear_error(symbologies: list[str]) -> None:
    with pytest.raises(ValueError, match=r"symbology .* choose from qrcode, code128"):
        make_decoder("zxing", symbologies)
