"""Slip bytes: native QR vs image QR, pinned code page, widths, the human URL, a cut."""

from __future__ import annotations

import pytest
import qrcode

from drivers.printer.profile import PrinterProfile
from drivers.printer.slip import (
    ActivationSlip,
    SelfTestSlip,
    SlipError,
    activation_slip,
    human_url,
    qr_module_size,
    qr_modules,
    self_test_slip,
    text_width,
    wrap,
)

URL = ("https://memberprod.alipay.com/account/openform/activecard.htm?app_id=2021000000000000"
       "&template_id=20240101000000000000000000000000&__webview_options=canPullDown%3dNO")  # fmt: skip
GS_K_STORE = b"\x1d(k"
RASTER = b"\x1dv0"
FULL_CUT = b"\x1dV\x00"


def slip(**profile: object) -> bytes:
    return activation_slip(ActivationSlip("Cafe du Coin", URL), PrinterProfile(**profile))  # type: ignore[arg-type]


def test_native_slip_starts_clean_stores_the_url_in_gs_k_and_ends_with_a_cut() -> None:
    data = slip()
    assert data.startswith(b"\x1b@")  # initialise: no mode left over from the previous receipt
    assert b"\x1bt\x00" in data  # the pinned code page (CP437 = table 0)
    encoded = URL.encode()
    store = b"\x1d(k" + (len(encoded) + 3).to_bytes(2, "little") + b"1P0" + encoded
    assert store in data
    assert data.count(RASTER) == 0
    assert data.endswith(FULL_CUT)
    assert len(data) < 1000


def test_image_slip_draws_the_qr_and_never_sends_the_url_as_qr_data() -> None:
    data = slip(native_qr=False)
    assert RASTER in data and GS_K_STORE not in data
    assert URL.encode() not in data  # only the human-shortened form is printed as text
    assert data.endswith(FULL_CUT)
    assert len(data) > 5 * len(slip())


@pytest.mark.parametrize("paper_mm", [58, 80])
def test_image_qr_is_padded_to_the_paper_width(paper_mm: int) -> None:
    data = slip(native_qr=False, paper_mm=paper_mm)
    header = data[data.index(RASTER) + 4 :]
    width_bytes = int.from_bytes(header[:2], "little")
    assert width_bytes * 8 == PrinterProfile(paper_mm=paper_mm).width_dots  # type: ignore[arg-type]


def test_long_data_goes_the_image_path_on_printers_with_a_small_qr_buffer() -> None:
    data = slip(max_native_qr_bytes=100)
    assert GS_K_STORE not in data and RASTER in data


def test_module_size_shrinks_to_fit_narrow_paper_and_refuses_what_cannot_scan() -> None:
    narrow = PrinterProfile(paper_mm=58, qr_module_dots=16)
    size = qr_module_size(URL, narrow)
    assert 2 <= size < 16
    with pytest.raises(SlipError, match="too long"):
        qr_module_size("x" * 2500, narrow)


def test_the_symbol_size_matches_the_qrcode_library() -> None:
    code = qrcode.QRCode(version=None, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(URL)
    code.make(fit=True)
    assert qr_modules(URL, "M") == code.modules_count


def test_empty_url_is_refused() -> None:
    with pytest.raises(SlipError, match="empty"):
        activation_slip(ActivationSlip("Shop", "  "), PrinterProfile())


def test_the_pinned_code_page_encodes_accents_and_the_euro_sign() -> None:
    data = activation_slip(ActivationSlip("Café €", URL), PrinterProfile(code_page="CP858"))
    assert b"\x1bt\x13" in data  # CP858 is table 19 in python-escpos's default profile
    assert "Café €".encode("cp858") in data


def test_an_unknown_code_page_is_a_clear_error() -> None:
    with pytest.raises(SlipError, match="unknown code page 'CP999'"):
        activation_slip(ActivationSlip("Shop", URL), PrinterProfile(code_page="CP999"))


def test_chinese_mode_sends_fs_ampersand_and_gb18030_text() -> None:
    data = activation_slip(ActivationSlip("咖啡店", URL, instructions=("用支付宝扫码领取会员卡",)),
                           PrinterProfile(code_page="GB18030"))  # fmt: skip
    assert data.startswith(b"\x1b@\x1c&")
    assert "咖啡店".encode("gb18030") in data and "用支付宝扫码领取会员卡".encode("gb18030") in data


def test_self_test_slip_carries_its_qr_text_and_the_printer_details() -> None:
    data = self_test_slip(SelfTestSlip("tcp://10.0.0.9:9100", "POSAGENT-TEST-1", "ready"), PrinterProfile())
    assert b"1P0POSAGENT-TEST-1" in data
    assert b"printer: tcp://10.0.0.9:9100" in data and b"status: ready" in data
    assert data.endswith(FULL_CUT)


def test_the_self_test_slip_never_prints_a_password_of_the_printer_address() -> None:
    slip = SelfTestSlip("tcp://admin:S3cr3t-pw@10.0.0.9:9100", "POSAGENT-TEST-1", "ready")

    data = self_test_slip(slip, PrinterProfile())

    assert slip.printer == "tcp://admin:***@10.0.0.9:9100"  # what the status page's preview shows too
    assert b"S3cr3t-pw" not in data and b"printer: tcp://admin:***@10.0.0.9:9100" in data


@pytest.mark.parametrize(
    ("url", "columns", "expected"),
    [
        ("https://www.example.com/", 48, "example.com"),
        ("https://qr.alipay.com/abc123", 48, "qr.alipay.com/abc123"),
        ("https://qr.alipay.com/abc?x=1", 48, "qr.alipay.com/abc..."),
        (URL, 32, "memberprod.alipay.com/account..."),
    ],
)
def test_human_url(url: str, columns: int, expected: str) -> None:
    assert human_url(url, columns) == expected
    assert len(human_url(url, columns)) <= columns


def test_wrap_counts_cjk_as_two_columns_and_splits_long_words() -> None:
    assert text_width("会员ab") == 6
    assert wrap("Scan with Alipay to get your card", 16) == ["Scan with Alipay", "to get your card"]
    assert wrap("会员卡会员卡", 6) == ["会员卡", "会员卡"]
    assert wrap("x" * 10, 4) == ["xxxx", "xxxx", "xx"]
    assert all(text_width(line) <= 10 for line in wrap("用支付宝扫码 and get 会员卡 today", 10))


def test_a_receipt_prints_title_lines_and_a_qr_that_scans_back(tmp_path: object) -> None:
    from pathlib import Path

    import zxingcpp
    from PIL import Image

    from drivers.printer.slip import Receipt, receipt
    from hardware_sim.printer.offline import render_stream

    data = receipt(Receipt(title="Order 42", lines=("2 x Green tea   18.00", "", "Thank you!"),
                           qr="https://example.com/r/42"), PrinterProfile(paper_mm=58))  # fmt: skip
    assert b"Green tea" in data and data.rstrip().endswith(b"\x1dV\x00")
    report = render_stream(data, Path(str(tmp_path)), width_dots=384)
    (job,) = report.jobs
    decoded = [r.text for r in zxingcpp.read_barcodes(Image.open(job.png))]
    assert decoded == ["https://example.com/r/42"]


def test_a_receipt_without_a_cut_and_an_empty_one() -> None:
    from drivers.printer.slip import Receipt, receipt

    assert b"\x1dV" not in receipt(Receipt(lines=("hello",), cut=False), PrinterProfile())
    with pytest.raises(SlipError):
        receipt(Receipt(), PrinterProfile())


def test_a_line_that_fits_keeps_its_column_alignment() -> None:
    assert wrap("Coffee        12.00", 32) == ["Coffee        12.00"]
    assert wrap("Coffee        12.00   ", 32) == ["Coffee        12.00"]
    assert wrap("Green tea latte, large, oat milk   32.00", 32) == ["Green tea latte, large, oat milk", "32.00"]
