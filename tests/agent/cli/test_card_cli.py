"""`posagent card ...` run in-process against the gateway simulator, with keys and a config in tmp_path."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image

from agent.alipay.keys import generate_app_key_pair
from agent.cli.main import main
from hardware_sim.customer import open_card as customer_opens
from hardware_sim.gateway import GatewaySimulator

APP_ID = "2021000000000001"
EXAMPLES = Path(__file__).resolve().parents[3] / "deploy" / "examples"
MOBILE = "13552319194"
CREATE = "alipay.marketing.card.template.create"
UPLOAD = "alipay.offline.material.image.upload"


@pytest.fixture(scope="module")
def app_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("keys")
    generate_app_key_pair(folder)
    return folder


@pytest.fixture
def sim(app_keys: Path) -> Iterator[GatewaySimulator]:
    with GatewaySimulator(apps={APP_ID: (app_keys / "app_public_key.pem").read_text()}) as simulator:
        yield simulator


@pytest.fixture
def config(tmp_path: Path, sim: GatewaySimulator, app_keys: Path) -> Path:
    (tmp_path / "alipay_public_key.pem").write_text(sim.alipay_public_key_pem)
    path = tmp_path / "agent.toml"
    path.write_text(
        "[alipay]\n"
        f'app_id = "{APP_ID}"\n'
        f'app_private_key_file = "{app_keys / "app_private_key.pem"}"\n'
        'alipay_public_key_file = "alipay_public_key.pem"\n'
        f'gateway = "{sim.url}"\n'
        "read_timeout = 10\n"
        f'[paths]\nstate_dir = "{tmp_path / "state"}"\n'
    )
    (tmp_path / "state").mkdir()
    return path


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    folder = tmp_path / "shop"
    folder.mkdir()
    for name in ("card-template.toml", "background.png", "logo.png"):
        shutil.copy(EXAMPLES / name, folder / name)
    return folder / "card-template.toml"


class Posagent:
    def __init__(self, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.config, self.capsys = config, capsys
        self.out = self.err = ""

    def __call__(self, *argv: str) -> int:
        code = main(["card", argv[0], "--config", str(self.config), *argv[1:]])
        captured = self.capsys.readouterr()
        self.out, self.err = captured.out, captured.err
        return code

    def json(self, *argv: str) -> tuple[int, dict[str, Any]]:
        code = self(*argv, "--json")
        return code, json.loads(self.out)


@pytest.fixture
def posagent(config: Path, capsys: pytest.CaptureFixture[str]) -> Posagent:
    return Posagent(config, capsys)


def stored_image(sim: GatewaySimulator, image_id: str) -> bytes:
    # The simulator keeps what it received; its private store is the only way to read it back.
    with sim._store.reading() as db:
        row = db.execute("SELECT content FROM images WHERE image_id = ?", (image_id,)).fetchone()
    return bytes(row["content"])


def png(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (30, 120, 90)).save(out, "PNG")
    return out.getvalue()


# -- images --------------------------------------------------------------------------------------


def test_upload_image_sends_the_file_as_multipart_and_prints_the_image_id(
    posagent: Posagent, sim: GatewaySimulator
) -> None:
    code, out = posagent.json("upload-image", str(EXAMPLES / "logo.png"), "--kind", "logo")
    assert code == 0, out
    assert out["ok"] is True and (out["width"], out["height"], out["format"]) == (500, 500, "png")
    assert stored_image(sim, out["image_id"]) == (EXAMPLES / "logo.png").read_bytes()
    assert posagent("upload-image", str(EXAMPLES / "background.png"), "--kind", "background") == 0
    assert posagent.out.startswith("image_id: ")
    assert sim.inspect()["calls"][UPLOAD] == 2


def test_a_non_conforming_image_is_refused_before_any_call(
    posagent: Posagent, sim: GatewaySimulator, tmp_path: Path
) -> None:
    (tmp_path / "logo.jpg").write_bytes(png((640, 480)))  # a PNG, whatever its name says
    assert posagent("upload-image", str(tmp_path / "logo.jpg"), "--kind", "logo") == 2
    assert "image is 640x480 px; a logo image must be 500x500 px" in posagent.err
    assert "add --fit" in posagent.err
    (tmp_path / "notes.png").write_text("not an image")
    code, out = posagent.json("upload-image", str(tmp_path / "notes.png"), "--kind", "other")
    assert code == 2 and out["error"]["problems"] == [
        "not a BMP, PNG, JPEG or GIF image (judged by its content, not its name)"
    ]
    assert posagent("upload-image", str(tmp_path / "missing.png"), "--kind", "logo") == 2
    assert "cannot be read" in posagent.err
    assert sim.inspect()["calls_total"] == 0


def test_fit_uploads_a_conforming_copy(posagent: Posagent, sim: GatewaySimulator, tmp_path: Path) -> None:
    (tmp_path / "wide.png").write_bytes(png((2040, 1500)))
    fitted = tmp_path / "fitted.png"
    code, out = posagent.json("upload-image", str(tmp_path / "wide.png"), "--kind", "background", "--fit",
                              "--save-fitted", str(fitted))  # fmt: skip
    assert code == 0 and out["fitted"] is True
    sent = stored_image(sim, out["image_id"])
    assert sent == fitted.read_bytes()
    assert Image.open(io.BytesIO(sent)).size == (1020, 643)


# -- template ------------------------------------------------------------------------------------


def test_create_template_uploads_the_images_and_creates_once(
    posagent: Posagent, sim: GatewaySimulator, spec: Path
) -> None:
    code, out = posagent.json("create-template", str(spec))
    assert code == 0, out
    assert out["created"] is True and out["images_uploaded"] == 2
    state = json.loads(spec.with_name("card-template.state.json").read_text())
    assert state["template_id"] == out["template_id"] and state["request_id"] == out["request_id"]
    assert len(state["images"]) == 2

    code, again = posagent.json("create-template", str(spec))
    assert code == 0 and again["created"] is False and again["template_id"] == out["template_id"]
    inspect = sim.inspect()
    assert inspect["calls"][CREATE] == 1 and inspect["counts"]["images"] == 2

    # --new makes another template but reuses the uploaded images (same files, same sha256).
    code, other = posagent.json("create-template", str(spec), "--new")
    assert code == 0 and other["template_id"] != out["template_id"] and other["images_uploaded"] == 0
    assert len(sim.inspect()["templates"]) == 2


def test_template_creation_is_idempotent_after_a_processed_then_dropped_reply(
    posagent: Posagent, sim: GatewaySimulator, spec: Path
) -> None:
    sim.set_faults(drop_rate=1.0, methods=[CREATE])
    code, out = posagent.json("create-template", str(spec))
    assert code == 4, out
    assert out["error"]["kind"] == "no_answer" and out["error"]["method"] == CREATE
    state_file = spec.with_name("card-template.state.json")
    state = json.loads(state_file.read_text())
    assert state["template_id"] is None and len(state["images"]) == 2
    [created] = sim.inspect()["templates"]  # Alipay did create it; we just never heard
    assert created["request_id"] == state["request_id"]

    sim.set_faults(drop_rate=1.0, methods=[CREATE])
    assert posagent("create-template", str(spec)) == 4  # human output says what to do
    assert "unknown outcome" in posagent.err and "safe to run again" in posagent.err

    sim.set_faults()
    code, out = posagent.json("create-template", str(spec))
    assert code == 0, out
    assert out["template_id"] == created["template_id"] and out["request_id"] == state["request_id"]
    assert out["images_uploaded"] == 0
    inspect = sim.inspect()
    assert [t["template_id"] for t in inspect["templates"]] == [created["template_id"]]
    assert inspect["duplicates_absorbed"]["request_id"] == 2
    assert inspect["counts"]["images"] == 2
    assert json.loads(state_file.read_text())["template_id"] == created["template_id"]


def test_spec_problems_are_listed_by_key_before_any_call(
    posagent: Posagent, sim: GatewaySimulator, spec: Path
) -> None:
    text = spec.read_text().replace("number_length = 10", "number_length = 30").replace('"logo.png"', '"gone.png"')
    spec.write_text(text)
    code, out = posagent.json("create-template", str(spec))
    assert code == 2
    keys = [p.split(":")[0] for p in out["error"]["problems"]]
    assert keys == ["card.number_length", "style.logo"]
    assert sim.inspect()["calls_total"] == 0
    assert not spec.with_name("card-template.state.json").exists()


def test_bad_images_in_a_spec_are_refused_unless_fitted(posagent: Posagent, sim: GatewaySimulator, spec: Path) -> None:
    spec.with_name("logo.png").write_bytes(png((800, 800)))
    assert posagent("create-template", str(spec)) == 2
    assert "logo.png (logo): image is 800x800 px" in posagent.err
    assert sim.inspect()["calls_total"] == 0
    code, out = posagent.json("create-template", str(spec), "--fit")
    assert code == 0 and out["images_uploaded"] == 2


# -- form, activation URL, open, query, update ----------------------------------------------------


def make_template(posagent: Posagent, spec: Path) -> str:
    code, out = posagent.json("create-template", str(spec))
    assert code == 0, out
    template_id: str = out["template_id"]
    assert posagent("set-form", template_id, "--required", "mobile,name", "--optional", "gender,birthday") == 0
    return template_id


def test_a_card_from_template_to_update(posagent: Posagent, sim: GatewaySimulator, spec: Path, tmp_path: Path) -> None:
    template_id = make_template(posagent, spec)
    assert "OPEN_FORM_FIELD_MOBILE, OPEN_FORM_FIELD_NAME" in posagent.out

    qr = tmp_path / "activate.png"
    assert posagent("activation-url", template_id, "--callback", "http://127.0.0.1:9/callback",
                    "--out-string", "till-1", "--png", str(qr)) == 0  # fmt: skip
    url = posagent.out.splitlines()[0]
    assert url.startswith(sim.base_url) and f"template_id={template_id}" in url
    assert "█" in posagent.out  # the terminal QR code
    [decoded] = zxingcpp.read_barcodes(Image.open(qr))
    assert decoded.text == url

    callback = customer_opens(url, mobile=MOBILE, name="李飞", gender="FEMALE", follow_callback=False).callback_url
    assert callback is not None
    code, opened = posagent.json("open", "--callback-url", callback, "--level", "VIP1", "--points", "50",
                                 "--balance", "10")  # fmt: skip
    assert code == 0, opened
    card_no = opened["card_no"]
    assert opened["member"] == {"name": "李*", "mobile": "135****9194"} and opened["out_string"] == "till-1"
    assert MOBILE not in posagent.out and "李飞" not in posagent.out

    code, queried = posagent.json("query", card_no)
    assert code == 0
    assert (queried["card_info"]["point"], queried["card_info"]["balance"], queried["card_info"]["level"]) == (
        "50", "10.00", "VIP1")

    assert posagent("update", card_no, "--points", "80", "--level", "VIP2", "--occur-time", "2030-01-01 10:00:00",
                    "--changed-point", "30", "--reason", "Purchase") == 0  # fmt: skip
    assert "updated (as of 2030-01-01 10:00:00 China time)" in posagent.out
    assert posagent("update", card_no, "--points", "81", "--occur-time", "2030-01-01T03:00:01Z") == 0
    assert "updated (as of 2030-01-01 11:00:01 China time)" in posagent.out
    assert posagent("query", card_no) == 0
    assert "level: VIP2" in posagent.out and "points: 81" in posagent.out
    [card] = sim.inspect()["cards"]
    assert card["updates"][-1]["point"] == "81"


def test_open_again_with_a_used_callback_names_the_card_already_opened(
    posagent: Posagent, spec: Path, sim: GatewaySimulator
) -> None:
    template_id = make_template(posagent, spec)
    assert posagent("activation-url", template_id, "--callback", "http://127.0.0.1:9/cb", "--no-qr") == 0
    callback = customer_opens(posagent.out.strip(), mobile=MOBILE, name="Li", follow_callback=False).callback_url
    assert callback is not None
    assert posagent("open", "--callback-url", callback) == 0
    assert "card opened: LOTUS" in posagent.out and "135****9194" in posagent.out
    card_no = posagent.out.split("card opened: ")[1].split()[0]
    assert posagent("open", "--callback-url", callback) == 0
    assert f"this callback was already used: card {card_no} was opened with it" in posagent.out
    assert "scan" not in posagent.out + posagent.err
    code, again = posagent.json("open", "--callback-url", callback)
    assert code == 0 and again["already_opened"] is True and again["card_no"] == card_no
    assert len(sim.inspect()["cards"]) == 1


def test_a_used_callback_without_a_record_does_not_claim_the_card_is_missing(
    posagent: Posagent, spec: Path, tmp_path: Path
) -> None:
    template_id = make_template(posagent, spec)
    assert posagent("activation-url", template_id, "--callback", "http://127.0.0.1:9/cb", "--no-qr") == 0
    callback = customer_opens(posagent.out.strip(), mobile=MOBILE, name="Li", follow_callback=False).callback_url
    assert callback is not None
    assert posagent("open", "--callback-url", callback) == 0
    (tmp_path / "state" / "opened-cards.json").unlink()  # opened on another PC, say
    assert posagent("open", "--callback-url", callback) == 1
    assert "already used" in posagent.err and "the card exists" in posagent.err
    assert "Only if no card was opened, ask the customer to scan" in posagent.err


def test_open_refuses_bad_or_foreign_callbacks(posagent: Posagent, sim: GatewaySimulator) -> None:
    foreign = "https://x/?app_id=2021999999999999&auth_code=abc&template_id=1&request_id=2"
    assert posagent("open", "--callback-url", foreign) == 2
    assert "the callback is for app 2021999999999999, but this agent is app 2021000000000001" in posagent.err
    assert posagent("open", "--auth-code", "abc", "--template-id", "1") == 2
    assert "all of --auth-code, --template-id and --request-id" in posagent.err
    assert posagent("open", "--auth-code", "abc", "--template-id", "1", "--request-id", "2", "--points", "x") == 2
    assert "points: expected a number" in posagent.err
    assert sim.inspect()["calls_total"] == 0


def test_update_needs_values_and_a_real_time(posagent: Posagent, sim: GatewaySimulator) -> None:
    assert posagent("update", "LOTUS0000000001") == 2
    assert "at least one of --points, --balance, --level" in posagent.err
    assert posagent("update", "LOTUS0000000001", "--points", "1", "--occur-time", "2026-02-30 10:00:00") == 2
    assert "a real date" in posagent.err
    assert posagent("update", "LOTUS0000000001", "--points", "1", "--occur-time", "2026-02-03T10:00:00") == 2
    assert "without an offset" in posagent.err
    assert posagent("update", "LOTUS0000000001", "--points", "1", "--changed-point", "1") == 2
    assert "--changed-point needs --reason" in posagent.err
    assert sim.inspect()["calls_total"] == 0


def test_alipay_errors_are_explained_with_code_sub_code_and_exit_1(posagent: Posagent) -> None:
    assert posagent("query", "LOTUS0000000404") == 1
    assert "code: 40004  sub_code: CARD_NOT_EXIST" in posagent.err
    code, out = posagent.json("set-form", "20990101000000000000000000000000", "--required", "mobile")
    assert code == 1 and out["error"]["kind"] == "business_failure" and out["error"]["sub_code"] == "TEMPLATE_NOT_EXIST"


def test_unknown_form_fields_are_usage_errors(posagent: Posagent) -> None:
    with pytest.raises(SystemExit) as caught:
        posagent("set-form", "1", "--required", "mobile,shoe_size")
    assert caught.value.code == 2
    assert "unknown form field 'shoe_size'" in posagent.capsys.readouterr().err


def test_a_missing_config_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["card", "query", "X1", "--config", str(tmp_path / "none.toml")]) == 2
    assert "not found" in capsys.readouterr().err


def test_an_unreachable_gateway_is_transient_and_says_retry(
    posagent: Posagent, sim: GatewaySimulator, config: Path
) -> None:
    sim.outage(60)
    assert posagent("query", "LOTUS0000000001") == 4
    assert "safe to run again" in posagent.err


def test_open_from_the_three_values_and_a_dropped_reply_exits_4_with_what_to_do(
    posagent: Posagent, sim: GatewaySimulator, spec: Path
) -> None:
    template_id = make_template(posagent, spec)
    code, out = posagent.json("activation-url", template_id, "--callback", "http://127.0.0.1:9/cb")
    assert code == 0 and out["png"] is None
    params = customer_opens(out["url"], mobile=MOBILE, name="Li", follow_callback=False).params
    values = ["--auth-code", params["auth_code"], "--template-id", params["template_id"],
              "--request-id", params["request_id"]]  # fmt: skip
    sim.set_faults(drop_rate=1.0, methods=["alipay.marketing.card.open"])
    assert posagent("open", *values) == 4
    assert "unknown outcome" in posagent.err and "single use" in posagent.err
    assert "scan the activation QR again" in posagent.err
    assert params["auth_code"] not in posagent.err + posagent.out
    sim.set_faults()
    assert len(sim.inspect()["cards"]) == 1  # it was opened; the next scan finds it, never a second one


# -- exit codes: only what running again can fix says "safe to run again" --------------------------


def test_a_wrong_alipay_public_key_is_a_set_up_problem_not_run_again(
    posagent: Posagent, config: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    generate_app_key_pair(other)  # a valid public key, but not Alipay's
    (tmp_path / "alipay_public_key.pem").write_text((other / "app_public_key.pem").read_text())
    assert posagent("query", "LOTUS0000000001") == 3
    assert "does not verify with the configured Alipay public key" in posagent.err
    assert "safe to run again" not in posagent.err
    code, out = posagent.json("query", "LOTUS0000000001")
    assert code == 3 and "alipay_public_key" in out["error"]["hint"]


def test_a_gateway_url_that_is_not_alipays_is_a_set_up_problem(
    posagent: Posagent, config: Path, sim: GatewaySimulator
) -> None:
    config.write_text(config.read_text().replace(f'gateway = "{sim.url}"', f'gateway = "{sim.base_url}/no-such-path"'))
    assert posagent("query", "LOTUS0000000001") == 3
    assert "HTTP 404" in posagent.err and "check alipay.gateway" in posagent.err
    assert "safe to run again" not in posagent.err


# -- the open-card page's app: this agent's unless said, never another's by mistake -----------------


def test_create_template_fills_source_app_id_from_the_config(posagent: Posagent, sim: GatewaySimulator,
                                                             spec: Path) -> None:  # fmt: skip
    make_template(posagent, spec)
    with sim._store.reading() as db:  # what Alipay received; the simulator's store is the only way to read it
        [row] = db.execute("SELECT body FROM templates").fetchall()
    assert json.loads(row["body"])["open_card_conf"]["source_app_id"] == APP_ID


def test_create_template_refuses_another_app_s_id_before_any_call(posagent: Posagent, sim: GatewaySimulator,
                                                                  spec: Path) -> None:  # fmt: skip
    spec.write_text(spec.read_text().replace("[open_card]\n", '[open_card]\nsource_app_id = "2021999999999999"\n'))
    assert posagent("create-template", str(spec)) == 2
    assert "source_app_id is 2021999999999999, but this agent is app 2021000000000001" in posagent.err
    spec.write_text(spec.read_text().replace("2021999999999999", "abc"))
    assert posagent("create-template", str(spec)) == 2
    assert "open_card.source_app_id" in posagent.err and "16 digits" in posagent.err
    assert sim.inspect()["calls_total"] == 0


def test_a_png_into_a_missing_folder_is_refused_before_any_call(
    posagent: Posagent, sim: GatewaySimulator, tmp_path: Path
) -> None:
    for target in (tmp_path / "missing" / "qr.png", f"{tmp_path / 'missing'}/"):
        with pytest.raises(SystemExit) as exited:
            posagent("activation-url", "20990101000000000000000000000000", "--png", str(target))
        assert exited.value.code == 2
        err = posagent.capsys.readouterr().err
        assert "argument --png" in err and ("does not exist" in err or "no such folder" in err)
    assert sim.inspect()["calls_total"] == 0
    assert not (tmp_path / "missing").exists()
