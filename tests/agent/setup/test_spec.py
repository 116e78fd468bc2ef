"""The template spec: TOML in, `apis.TemplateCreate` out, every problem named by its spec key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agent.setup.images import ImageKind
from agent.setup.spec import SpecError, TemplateSpec, load_spec, parse_spec

EXAMPLES = Path(__file__).resolve().parents[3] / "deploy" / "examples"

MINIMAL = """
[card]
name = "Tea Club"
number_prefix = "TEA"
number_length = 10

[style]
background = "bg.png"
logo = "logo.png"
"""


@pytest.fixture
def spec_dir(tmp_path: Path) -> Path:
    for name in ("bg.png", "logo.png", "icon.png"):
        (tmp_path / name).write_bytes(b"\x89PNG\r\n\x1a\n")  # existence is all the spec checks
    return tmp_path


def parse(text: str, base: Path) -> TemplateSpec:
    return parse_spec(text, source="spec.toml", base_dir=base)


def problems(text: str, base: Path) -> dict[str, str]:
    with pytest.raises(SpecError) as caught:
        parse(text, base)
    return {p.key: p.message for p in caught.value.problems}


def test_the_shipped_example_is_valid_and_names_both_images() -> None:
    spec = load_spec(EXAMPLES / "card-template.toml")
    assert spec.image_files() == {
        EXAMPLES / "background.png": ImageKind.BACKGROUND,
        EXAMPLES / "logo.png": ImageKind.LOGO,
    }
    assert [lv.level for lv in spec.levels] == ["VIP1", "VIP2"]


def test_images_resolve_relative_to_the_spec_and_become_ids_in_the_request(spec_dir: Path) -> None:
    spec = parse(MINIMAL + '\n[[levels]]\nlevel = "VIP1"\nname = "Gold"\nicon = "icon.png"\n', spec_dir)
    files = spec.image_files()
    assert files == {spec_dir / "bg.png": ImageKind.BACKGROUND, spec_dir / "logo.png": ImageKind.LOGO,
                     spec_dir / "icon.png": ImageKind.OTHER}
    ids = {spec_dir / "bg.png": "BG", spec_dir / "logo.png": "LOGO", spec_dir / "icon.png": "ICON"}
    biz = spec.to_request("req-1", ids).biz_content()
    assert biz["request_id"] == "req-1"
    assert biz["biz_no_prefix"] == "TEA" and biz["biz_no_suffix_len"] == "10"
    assert biz["card_type"] == "OUT_MEMBER_CARD" and biz["write_off_type"] == "qrcode"
    assert biz["template_style_info"] == {"card_show_name": "Tea Club", "logo_id": "LOGO", "background_id": "BG",
                                          "bg_color": "rgb(55,112,179)", "column_info_layout": "list"}
    assert biz["card_level_conf"] == [{"level": "VIP1", "level_show_name": "Gold", "level_icon": "ICON"}]
    assert "open_card_conf" not in biz and "column_info_list" not in biz  # unset sections are not sent


def test_the_example_request_carries_every_section_under_its_api_name() -> None:
    spec = load_spec(EXAMPLES / "card-template.toml")
    biz = spec.to_request("r", dict.fromkeys(spec.image_files(), "ID")).biz_content()
    assert biz["column_info_list"][4] == {
        "code": "RULES", "title": "Member rules", "operate_type": "openNative",
        "more_info": {"title": "Member rules", "descs": ["Points never expire", "Balance is not refundable in cash"]},
    }
    assert {"field_name": "Point", "rule_name": "ASSIGN_FROM_REQUEST", "rule_value": "point"} in biz["field_rule_list"]
    assert biz["template_benefit_info"][0]["benefit_desc"][0] == "10% off every drink for members"
    assert biz["open_card_conf"]["open_card_url"] == "https://member.lotus-tea.example/alipay/open-card"
    assert biz["open_card_conf"]["card_rights"] == [{"title": "Welcome gift", "detail": "50 points when you join"}]


def test_missing_sections_and_keys_are_named(spec_dir: Path) -> None:
    found = problems("[card]\nname = 'x'\n", spec_dir)
    assert set(found) == {"card.number_length", "style.background", "style.logo"}
    assert found["card.number_length"].startswith("required")


def test_unknown_keys_get_a_suggestion(spec_dir: Path) -> None:
    found = problems(MINIMAL.replace("number_length", "number_lenght"), spec_dir)
    assert found["card.number_lenght"] == "unknown setting (did you mean 'number_length'?)"


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        (("name = \"Tea Club\"", "name = \"A very long card name\""), "card.name", "at most 10 characters"),
        (("number_length = 10", "number_length = 5"), "card.number_length", "must be between 8 and 32"),
        (("number_length = 10", "number_length = \"10\""), "card.number_length", "expected an integer"),
        (("number_prefix = \"TEA\"", "number_prefix = \"TEA-1\""), "card.number_prefix", "0-10 letters or digits"),
        (("number_length = 10", "number_length = 10\nwrite_off_type = \"laser\""), "card.write_off_type",
         "expected one of"),
        (("logo = \"logo.png\"", "logo = \"missing.png\""), "style.logo", "image file not found"),
        (("number_length = 10", "number_length = 30"), "card.number_length",
         "number_prefix plus number_length must be at most 32"),
    ],
)
def test_bad_values_are_named_by_key(spec_dir: Path, change: tuple[str, str], key: str, message: str) -> None:
    found = problems(MINIMAL.replace(*change), spec_dir)
    assert key in found, found
    assert message in found[key]


def test_list_items_are_named_by_index(spec_dir: Path) -> None:
    text = MINIMAL + """
[[columns]]
code = "POINT"
title = "Points"

[[columns]]
code = "POINT"
title = "Again"

[[columns]]
code = "SITE"
title = "Web"
operate_type = "openWeb"

[[field_rules]]
field = "Point"
rule = "DATE_IN_FUTURE"
value = "soon"

[[field_rules]]
field = "Points"
rule = "CONST"
value = "1"

[[levels]]
level = "VIP1"
name = "a"

[[levels]]
level = "VIP1"
name = "b"

[[benefits]]
title = "t"
descriptions = ["d"]
start = "2026-02-01 00:00:00"
end = "2026-01-01 00:00:00"
"""
    found = problems(text, spec_dir)
    # Type errors are reported first: the later checks need a well-typed spec.
    assert set(found) == {"field_rules[1].field"}
    found = problems(text.replace('field = "Points"', 'field = "Point"'), spec_dir)
    assert found == {
        "columns[1].code": "duplicate column code 'POINT'",
        "columns[2].more_info.url": "required for openWeb columns",
        "field_rules[0].rule": "DATE_IN_FUTURE only applies to OpenDate and ValidDate",
        "field_rules[0].value": "use a duration like '12m' (months) or '30d' (days)",
        "levels[1].level": "duplicate level 'VIP1'",
        "benefits[0].end": "ends before it starts",
    }


def test_dates_and_urls_are_checked(spec_dir: Path) -> None:
    text = MINIMAL + """
[[benefits]]
title = "t"
descriptions = ["d"]
start = "2026-01-01"
end = "2026-12-31 23:59:59"

[open_card]
callback_url = "member.example/open"
"""
    found = problems(text, spec_dir)
    assert found == {"benefits[0].start": "use 'yyyy-MM-dd HH:mm:ss' (China time)",
                     "open_card.callback_url": "must be an http(s) URL"}


def test_invalid_toml_and_missing_files_are_clear_errors(tmp_path: Path) -> None:
    assert "not valid TOML" in problems("[card\n", tmp_path)["(file)"]
    with pytest.raises(SpecError) as caught:
        load_spec(tmp_path / "nope.toml")
    assert str(caught.value.problems[0]) == "(file): not found"


def test_a_copied_spec_uses_images_next_to_the_copy(tmp_path: Path) -> None:
    for name in ("card-template.toml", "background.png", "logo.png"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    spec = load_spec(tmp_path / "card-template.toml")
    assert spec.style.logo == tmp_path.resolve() / "logo.png"


OPEN_CARD = '\n[open_card]\ncallback_url = "https://shop.example/open"\n'


@pytest.mark.parametrize("value", ["abc", "2021", "20210000000000011", "２０２１０００００００００００1"])
def test_a_malformed_source_app_id_is_refused(spec_dir: Path, value: str) -> None:
    found = problems(MINIMAL + OPEN_CARD + f'source_app_id = "{value}"\n', spec_dir)
    assert "16 digits" in found["open_card.source_app_id"]


def test_source_app_id_left_out_is_the_agent_s_own_app(spec_dir: Path) -> None:
    spec = parse(MINIMAL + OPEN_CARD, spec_dir)
    ids = dict.fromkeys(spec.image_files(), "img")
    conf = spec.to_request("r1", ids, app_id="2021000000000001").template["open_card_conf"]
    assert conf["source_app_id"] == "2021000000000001"
    given = parse(MINIMAL + OPEN_CARD + 'source_app_id = "2021000000000002"\n', spec_dir)
    assert given.to_request("r1", ids, app_id="2021000000000001").template["open_card_conf"]["source_app_id"] == (
        "2021000000000002")


def test_the_shipped_example_does_not_hard_code_an_app_id() -> None:
    assert load_spec(EXAMPLES / "card-template.toml").open_card.source_app_id == ""
