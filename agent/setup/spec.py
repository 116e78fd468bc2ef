"""The card-template spec: a TOML file a merchant can read, validated into `apis.TemplateCreate`.

Sections are typed dataclasses built by the config schema (`agent.config.schema`), so every problem
names the spec key at fault (`style.logo`, `columns[1].title`) and unknown keys get a "did you mean".
Image settings are FILE paths relative to the spec; `to_request()` swaps them for uploaded image ids.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from agent.alipay import apis
from agent.alipay.apis.base import compact as _compact
from agent.config.schema import ConfigError, Problem, build, setting

from .images import ImageKind

WriteOffType = Literal["qrcode", "barcode", "dqrcode", "dbarcode", "mdqrcode", "mdbarcode", "text", "none"]
FieldName = Literal["Balance", "Point", "Level", "OpenDate", "ValidDate"]
RuleName = Literal["ASSIGN_FROM_REQUEST", "DATE_IN_FUTURE", "CONST"]
OperateType = Literal["staticinfo", "openNative", "openWeb"]

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$", re.ASCII)
_PREFIX = re.compile(r"^[A-Za-z0-9]{0,10}$")
_RGB = re.compile(r"^rgb\(\s*\d{1,3}\s*,\s*\d{1,3}\s*,\s*\d{1,3}\s*\)$", re.ASCII)
_DURATION = re.compile(r"^\d+[md]$", re.ASCII)
_APP_ID = re.compile(r"[0-9]{16}", re.ASCII)


def _max_len(limit: int) -> Any:
    return lambda value: None if len(value) <= limit else f"at most {limit} characters"


def _date(value: str) -> str | None:
    return None if _DATE.fullmatch(value) else "use 'yyyy-MM-dd HH:mm:ss' (China time)"


def _app_id(value: str) -> str | None:
    if value == "" or _APP_ID.fullmatch(value):
        return None
    return "an Alipay app id is 16 digits (leave it out to use this agent's alipay.app_id)"


def _http_url(value: str) -> str | None:
    return None if value.startswith(("https://", "http://")) else "must be an http(s) URL"


@dataclass(frozen=True, kw_only=True)
class CardSection:
    name: str = setting("Card name shown in the Alipay wallet (card_show_name, at most 10 characters).",
                        check=_max_len(10))  # fmt: skip
    type: Literal["OUT_MEMBER_CARD"] = setting("card_type: Alipay only offers OUT_MEMBER_CARD.",
                                               "OUT_MEMBER_CARD")  # fmt: skip
    number_prefix: str = setting(
        "biz_no_prefix: letters/digits that start every card number (at most 10).",
        "", check=lambda v: None if _PREFIX.fullmatch(v) else "0-10 letters or digits",
    )  # fmt: skip
    number_length: int = setting(
        "biz_no_suffix_len: digits Alipay appends to the prefix (8-32; cannot be changed later).",
        check=lambda v: None if 8 <= v <= 32 else "must be between 8 and 32",
    )
    write_off_type: WriteOffType = setting("Code shown on the card for the till to scan (write_off_type).",
                                           "qrcode")  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class StyleSection:
    background: Path = setting("Background image FILE, 1020x643 px, at most 2 MB (uploaded for you).")
    logo: Path = setting("Logo image FILE, 500x500 px, at most 1 MB (uploaded for you).")
    bg_color: str = setting("Colour of the card detail area, 'rgb(R,G,B)'.", "rgb(55,112,179)",
                            check=lambda v: None if _RGB.fullmatch(v) else "use 'rgb(R,G,B)'")  # fmt: skip
    brand_name: str = setting("Brand name (at most 100 characters).", "", check=_max_len(100))
    slogan: str = setting("Slogan (at most 100 characters).", "", check=_max_len(100))
    feature_descriptions: list[str] = setting("Feature lines shown on the card detail page.", [])
    column_layout: Literal["list", "grid"] = setting("column_info_layout: 'list' or 'grid'.", "list")
    front_text_list_enable: bool = setting("Show up to 4 label/value lines on the card face.", False)


@dataclass(frozen=True, kw_only=True)
class Benefit:
    title: str = setting("Benefit title.")
    descriptions: list[str] = setting("Benefit lines (benefit_desc).")
    start: str = setting("Start, 'yyyy-MM-dd HH:mm:ss' China time.", check=_date)
    end: str = setting("End, 'yyyy-MM-dd HH:mm:ss' China time.", check=_date)


@dataclass(frozen=True, kw_only=True)
class MoreInfo:
    title: str = setting("Title of the second-level page (openNative).", "")
    url: str = setting("Page opened by openWeb columns.", "")
    descs: list[str] = setting("Lines shown by openNative columns.", [])


@dataclass(frozen=True, kw_only=True)
class Column:
    code: str = setting("BALANCE, POINT, LEVEL, TELEPHONE or your own code (at most 32).", check=_max_len(32))
    title: str = setting("Column title (at most 16 characters).", check=_max_len(16))
    operate_type: OperateType = setting("staticinfo, openNative or openWeb.", "staticinfo")
    value: str = setting("Fixed value (the phone number for TELEPHONE).", "", check=_max_len(16))
    more_info: MoreInfo = setting("Details for openNative/openWeb columns.", MoreInfo())


@dataclass(frozen=True, kw_only=True)
class FieldRule:
    field: FieldName = setting("Balance, Point, Level, OpenDate or ValidDate.")
    rule: RuleName = setting("ASSIGN_FROM_REQUEST (from card.open), DATE_IN_FUTURE or CONST.")
    value: str = setting("The card_ext_info key, the duration ('12m', '30d') or the constant.",
                         check=_max_len(512))  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Level:
    level: str = setting("Level code sent by card.open/update (e.g. 'VIP1').", check=_max_len(64))
    name: str = setting("Level name shown to the customer.")
    description: str = setting("Level description.", "")
    icon: Path | None = setting("Level icon image FILE (500x500, at most 1 MB).", None)


@dataclass(frozen=True, kw_only=True)
class Right:
    title: str = setting("Right title shown on the open-card page.")
    detail: str = setting("Right detail.", "")
    logo: Path | None = setting("Right logo image FILE (500x500, at most 1 MB).", None)


@dataclass(frozen=True, kw_only=True)
class OpenCardSection:
    source: Literal["ISV", "MER"] = setting("open_card_source_type: ISV or MER.", "ISV")
    source_app_id: str = setting("App id of the page that opens cards, 16 digits; left out: this agent's "
                                 "alipay.app_id (the command refuses another app's).", "", check=_app_id)
    callback_url: str = setting("open_card_url: your open-card page (http/https).", "", check=_http_url)
    rights: list[Right] = setting("Rights listed on the open-card page.", [])


@dataclass(frozen=True, kw_only=True)
class TemplateSpec:
    card: CardSection
    style: StyleSection
    benefits: list[Benefit] = setting("Benefits every card of this template carries.", [])
    columns: list[Column] = setting("Columns on the card page; points/balance/level need a column.", [])
    field_rules: list[FieldRule] = setting("How card.open values are set.", [])
    levels: list[Level] = setting("Card levels (card_level_conf).", [])
    open_card: OpenCardSection = setting("The open-card page.", OpenCardSection())

    def image_files(self) -> dict[Path, ImageKind]:
        """Every image FILE to upload, with the rule it must meet (one upload per file)."""
        files: dict[Path, ImageKind] = {self.style.background: ImageKind.BACKGROUND, self.style.logo: ImageKind.LOGO}
        extra = [lv.icon for lv in self.levels] + [r.logo for r in self.open_card.rights]
        for path in extra:
            if path is not None:
                files.setdefault(path, ImageKind.OTHER)
        return files

    def to_request(self, request_id: str, image_ids: Mapping[Path, str], *, app_id: str | None = None
                   ) -> apis.TemplateCreate:  # fmt: skip
        """The API request, given the stored request_id and the uploaded ids of `image_files()`; `app_id`
        (the agent's) is the open-card page's source_app_id when the spec leaves it out."""

        def image(path: Path) -> str:
            return image_ids[path]

        def optional_image(path: Path | None) -> str | None:
            return image_ids[path] if path is not None else None

        style = self.style
        style_info = _obj({
            "card_show_name": self.card.name, "logo_id": image(style.logo),
            "background_id": image(style.background), "bg_color": style.bg_color,
            "brand_name": style.brand_name or None, "slogan": style.slogan or None,
            "feature_descriptions": style.feature_descriptions or None,
            "column_info_layout": style.column_layout,
            "front_text_list_enable": style.front_text_list_enable or None,
        })  # fmt: skip
        template: dict[str, Any] = {
            "template_benefit_info": [
                {"title": b.title, "benefit_desc": b.descriptions, "start_date": b.start, "end_date": b.end}
                for b in self.benefits
            ] or None,
            "column_info_list": [_column(c) for c in self.columns] or None,
            "field_rule_list": [
                {"field_name": r.field, "rule_name": r.rule, "rule_value": r.value} for r in self.field_rules
            ] or None,
            "card_level_conf": [
                _obj({"level": lv.level, "level_show_name": lv.name,
                                   "level_desc": lv.description or None, "level_icon": optional_image(lv.icon)})
                for lv in self.levels
            ] or None,
            "open_card_conf": _open_card_conf(self.open_card, optional_image, app_id),
        }  # fmt: skip
        return apis.TemplateCreate(
            request_id=request_id,
            biz_no_suffix_len=self.card.number_length,
            template_style_info=style_info,
            card_type=self.card.type,
            biz_no_prefix=self.card.number_prefix or None,
            write_off_type=self.card.write_off_type,
            template={k: v for k, v in template.items() if v is not None},
        )


def _column(column: Column) -> dict[str, Any]:
    more = column.more_info
    more_info = _obj({"title": more.title or None, "url": more.url or None,
                                   "descs": more.descs or None})  # fmt: skip
    return _obj({"code": column.code, "title": column.title, "operate_type": column.operate_type,
                              "value": column.value or None, "more_info": more_info or None})  # fmt: skip


def _open_card_conf(conf: OpenCardSection, image: Any, app_id: str | None) -> dict[str, Any] | None:
    if not conf.callback_url and not conf.rights:
        return None
    rights = [_obj({"title": r.title, "detail": r.detail or None, "logo_id": image(r.logo)})
              for r in conf.rights]  # fmt: skip
    return _obj({"open_card_source_type": conf.source, "source_app_id": conf.source_app_id or app_id or None,
                              "open_card_url": conf.callback_url or None, "card_rights": rights or None})  # fmt: skip


def _obj(value: dict[str, Any]) -> dict[str, Any]:
    """Drop unset (None) fields so they are never sent."""
    result: dict[str, Any] = _compact(value)
    return result


class SpecError(ValueError):
    """The spec cannot be used; `problems` names every spec key at fault."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s) in the template spec:\n{lines}")


def parse_spec(text: str, *, source: str, base_dir: Path) -> TemplateSpec:
    """Validate the spec text; image paths resolve against `base_dir` (the spec's folder)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(source, [Problem("(file)", f"not valid TOML: {exc}")]) from None
    try:
        spec = build(TemplateSpec, data, source=source, base_dir=base_dir)
    except ConfigError as exc:
        raise SpecError(source, exc.problems) from None
    problems = _cross_checks(spec)
    if problems:
        raise SpecError(source, problems)
    return spec


def load_spec(path: Path) -> TemplateSpec:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(str(path), [Problem("(file)", "not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(str(path), [Problem("(file)", f"cannot be read: {exc}")]) from None
    return parse_spec(text, source=str(path), base_dir=path.parent.resolve())


def _cross_checks(spec: TemplateSpec) -> list[Problem]:
    """Rules that span keys or touch files: Alipay would reject these only after the upload."""
    problems: list[Problem] = []
    if len(spec.card.number_prefix) + spec.card.number_length > 32:
        problems.append(Problem("card.number_length", "number_prefix plus number_length must be at most 32"))
    images = [("style.background", spec.style.background), ("style.logo", spec.style.logo)]
    images += [(f"levels[{i}].icon", lv.icon) for i, lv in enumerate(spec.levels) if lv.icon is not None]
    images += [(f"open_card.rights[{i}].logo", r.logo) for i, r in enumerate(spec.open_card.rights)
               if r.logo is not None]  # fmt: skip
    for key, path in images:
        if path is not None and not path.is_file():
            problems.append(Problem(key, f"image file not found: {path}"))
    codes = [c.code for c in spec.columns]
    for i, code in enumerate(codes):
        if code in codes[:i]:
            problems.append(Problem(f"columns[{i}].code", f"duplicate column code {code!r}"))
    for i, column in enumerate(spec.columns):
        if column.operate_type == "openWeb" and not column.more_info.url:
            problems.append(Problem(f"columns[{i}].more_info.url", "required for openWeb columns"))
        if column.operate_type == "openNative" and not column.more_info.descs:
            problems.append(Problem(f"columns[{i}].more_info.descs", "required for openNative columns"))
    levels = [lv.level for lv in spec.levels]
    for i, level in enumerate(levels):
        if level in levels[:i]:
            problems.append(Problem(f"levels[{i}].level", f"duplicate level {level!r}"))
    for i, rule in enumerate(spec.field_rules):
        key = f"field_rules[{i}]"
        if rule.rule == "DATE_IN_FUTURE" and rule.field not in ("OpenDate", "ValidDate"):
            problems.append(Problem(f"{key}.rule", "DATE_IN_FUTURE only applies to OpenDate and ValidDate"))
        if rule.rule == "DATE_IN_FUTURE" and not _DURATION.fullmatch(rule.value):
            problems.append(Problem(f"{key}.value", "use a duration like '12m' (months) or '30d' (days)"))
        if rule.rule == "CONST" and rule.field == "Level" and levels and rule.value not in levels:
            problems.append(Problem(f"{key}.value", f"level {rule.value!r} is not one of levels[].level"))
    for i, benefit in enumerate(spec.benefits):
        if benefit.start > benefit.end:  # same fixed format: text order is time order
            problems.append(Problem(f"benefits[{i}].end", "ends before it starts"))
    return problems


__all__ = ["SpecError", "TemplateSpec", "load_spec", "parse_spec"]
