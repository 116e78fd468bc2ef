"""Membership-card APIs: activation form, open, update, query, delete."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .base import ApiRequest, compact, opt_str


@dataclass(frozen=True)
class CardInfo:
    """MerchantCard, shared by open, update and query. point/balance/level are ABSOLUTE values."""

    biz_card_no: str | None = None
    external_card_no: str | None = None
    open_date: str | None = None
    valid_date: str | None = None
    level: str | None = None
    point: str | None = None
    balance: str | None = None
    front_text_list: Sequence[Mapping[str, str]] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = dict(self.extra)
        body.update(
            biz_card_no=self.biz_card_no, external_card_no=self.external_card_no, open_date=self.open_date,
            valid_date=self.valid_date, level=self.level, point=self.point, balance=self.balance,
            front_text_list=[dict(x) for x in self.front_text_list] if self.front_text_list else None,
        )  # fmt: skip
        return compact(body)  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, node: Mapping[str, Any]) -> CardInfo:
        known = {"biz_card_no", "external_card_no", "open_date", "valid_date", "level", "point", "balance",
                 "front_text_list"}  # fmt: skip
        texts = node.get("front_text_list")
        return cls(
            biz_card_no=opt_str(node, "biz_card_no"), external_card_no=opt_str(node, "external_card_no"),
            open_date=opt_str(node, "open_date"), valid_date=opt_str(node, "valid_date"),
            level=opt_str(node, "level"), point=opt_str(node, "point"), balance=opt_str(node, "balance"),
            front_text_list=texts if isinstance(texts, list) else None,
            extra={k: v for k, v in node.items() if k not in known},
        )  # fmt: skip


@dataclass(frozen=True)
class ActivateForm:
    """The customer's answers: the raw `infos` list and a flat {field code: value} view."""

    infos: Sequence[Mapping[str, str]]

    @property
    def answers(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for item in self.infos:
            merged.update(item)
        return merged

    def __repr__(self) -> str:  # names and phone numbers are PII
        return f"ActivateForm(fields={sorted(self.answers)})"


def parse_infos(raw: Any) -> list[dict[str, str]]:
    """`infos` is a JSON *string* holding an array of one-key objects."""
    value = json.loads(raw) if isinstance(raw, str) else raw
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ValueError("infos is not a list of objects")
    return [{str(k): "" if v is None else str(v) for k, v in item.items()} for item in value]


@dataclass(frozen=True, repr=False)
class ActivateFormQuery(ApiRequest[ActivateForm]):
    METHOD = "alipay.marketing.card.activateform.query"
    template_id: str
    request_id: str
    auth_token: str
    biz_type: str = "MEMBER_CARD"

    def __repr__(self) -> str:
        return f"ActivateFormQuery(template_id={self.template_id!r}, request_id={self.request_id!r})"

    def user_auth_token(self) -> str:
        return self.auth_token

    def biz_content(self) -> dict[str, Any]:
        return {"biz_type": self.biz_type, "template_id": self.template_id, "request_id": self.request_id}

    def parse(self, node: Mapping[str, Any]) -> ActivateForm:
        try:
            return ActivateForm(parse_infos(node.get("infos")))
        except (ValueError, TypeError):
            raise ValueError(f"{self.METHOD}: infos is not a JSON array of objects") from None


@dataclass(frozen=True)
class MemberInfo:
    name: str | None = None
    gender: str | None = None  # MALE / FEMALE
    birth: str | None = None  # yyyy-MM-dd
    cell: str | None = None

    def to_dict(self) -> dict[str, Any]:
        # The API spells the gender field `gende`.
        return compact({"name": self.name, "gende": self.gender, "birth": self.birth, "cell": self.cell})  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return "MemberInfo(<personal data>)"


@dataclass(frozen=True)
class OpenedCard:
    card_info: CardInfo
    open_card_channel: str | None
    open_card_channel_id: str | None

    @property
    def card_no(self) -> str:
        assert self.card_info.biz_card_no is not None
        return self.card_info.biz_card_no


@dataclass(frozen=True, repr=False)
class CardOpen(ApiRequest[OpenedCard]):
    """`alipay.marketing.card.open`. `out_serial_no` is the idempotency key: one card per serial."""

    METHOD = "alipay.marketing.card.open"
    out_serial_no: str
    card_template_id: str
    auth_token: str
    card_ext_info: CardInfo
    user_id: str | None = None
    open_id: str | None = None
    member_ext_info: MemberInfo | None = None
    open_card_channel: str | None = None
    open_card_channel_id: str | None = None

    def __post_init__(self) -> None:
        if not (self.user_id or self.open_id):
            raise ValueError("card.open needs the customer's user_id or open_id")
        if self.card_ext_info.biz_card_no:
            raise ValueError("biz_card_no must not be sent to card.open (Alipay assigns it)")

    def __repr__(self) -> str:
        return f"CardOpen(out_serial_no={self.out_serial_no!r}, card_template_id={self.card_template_id!r})"

    def user_auth_token(self) -> str:
        return self.auth_token

    def biz_content(self) -> dict[str, Any]:
        user: dict[str, Any] = {"user_uni_id_type": "UID"}
        if self.user_id:
            user["user_uni_id"] = self.user_id
        else:
            user["open_id"] = self.open_id
        return compact(  # type: ignore[no-any-return]
            {
                "out_serial_no": self.out_serial_no,
                "card_template_id": self.card_template_id,
                "card_user_info": user,
                "card_ext_info": self.card_ext_info.to_dict(),
                "member_ext_info": self.member_ext_info.to_dict() if self.member_ext_info else None,
                "open_card_channel": self.open_card_channel,
                "open_card_channel_id": self.open_card_channel_id,
            }
        )

    def parse(self, node: Mapping[str, Any]) -> OpenedCard:
        info = node.get("card_info")
        if not isinstance(info, dict) or not info.get("biz_card_no"):
            raise ValueError(f"{self.METHOD}: success reply without card_info.biz_card_no")
        return OpenedCard(CardInfo.from_dict(info), opt_str(node, "open_card_channel"),
                          opt_str(node, "open_card_channel_id"))  # fmt: skip


NOTIFY_TYPES = ("POINT_UPDATE", "BALANCE_UPDATE", "LEVEL_UPDATE")


@dataclass(frozen=True)
class CardUpdated:
    result_code: str | None


@dataclass(frozen=True)
class CardUpdate(ApiRequest[CardUpdated]):
    """`alipay.marketing.card.update`: `card_info` carries the NEW ABSOLUTE values; `changed_point` the
    signed delta used only for the customer's notification."""

    METHOD = "alipay.marketing.card.update"
    target_card_no: str
    occur_time: str  # yyyy-MM-dd HH:mm:ss, the business time of this state
    card_info: CardInfo
    change_reason: str | None = None
    changed_point: str | None = None
    notify_types: Sequence[str] = ()
    target_card_no_type: str = "BIZ_CARD"

    def biz_content(self) -> dict[str, Any]:
        messages = [
            compact({"message_type": t, "change_reason": self.change_reason}) for t in self.notify_types
        ]
        return compact(  # type: ignore[no-any-return]
            {
                "target_card_no": self.target_card_no,
                "target_card_no_type": self.target_card_no_type,
                "occur_time": self.occur_time,
                "card_info": self.card_info.to_dict(),
                "notify_messages": messages or None,
                "merchant_card_msg_info": {"changed_point": self.changed_point} if self.changed_point else None,
            }
        )

    def parse(self, node: Mapping[str, Any]) -> CardUpdated:
        return CardUpdated(opt_str(node, "result_code"))


@dataclass(frozen=True)
class QueriedCard:
    card_info: CardInfo
    schema_url: str | None
    pass_id: str | None


@dataclass(frozen=True)
class CardQuery(ApiRequest[QueriedCard]):
    METHOD = "alipay.marketing.card.query"
    target_card_no: str
    target_card_no_type: str = "BIZ_CARD"  # or D_QR_CODE / D_BAR_CODE for a scanned dynamic code

    def biz_content(self) -> dict[str, Any]:
        return {"target_card_no": self.target_card_no, "target_card_no_type": self.target_card_no_type}

    def parse(self, node: Mapping[str, Any]) -> QueriedCard:
        info = node.get("card_info")
        if not isinstance(info, dict):
            raise ValueError(f"{self.METHOD}: success reply without card_info")
        return QueriedCard(CardInfo.from_dict(info), opt_str(node, "schema_url"), opt_str(node, "pass_id"))


@dataclass(frozen=True)
class DeletedCard:
    biz_serial_no: str | None


@dataclass(frozen=True)
class CardDelete(ApiRequest[DeletedCard]):
    METHOD = "alipay.marketing.card.delete"
    out_serial_no: str
    target_card_no: str
    reason_code: str = "USER_UNBUND"  # USER_UNBUND, CANCEL, PRESENT
    target_card_no_type: str = "BIZ_CARD"

    def biz_content(self) -> dict[str, Any]:
        return {"out_serial_no": self.out_serial_no, "target_card_no": self.target_card_no,
                "target_card_no_type": self.target_card_no_type, "reason_code": self.reason_code}  # fmt: skip

    def parse(self, node: Mapping[str, Any]) -> DeletedCard:
        return DeletedCard(opt_str(node, "biz_serial_no"))

