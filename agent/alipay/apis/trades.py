"""Bar-code payment: trade.pay (scene bar_code), trade.query, trade.cancel."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..errors import PAY_IN_PROCESS_CODE
from .base import ApiRequest, compact, opt_str

_OUT_TRADE_NO = re.compile(r"^[A-Za-z0-9_]{1,64}$")
MIN_AMOUNT = Decimal("0.01")
MAX_AMOUNT = Decimal("100000000")
# re.ASCII: without it a class like \d would also take other scripts' digits.
AMOUNT_GRAMMAR = re.compile(r"(0|[1-9][0-9]{0,8})(\.[0-9]{1,2})?", re.ASCII)
AMOUNT_RULE = "0.01-100000000, no sign, exponent, spaces or separators"


def normalise_amount(amount: str) -> str:
    """Yuan with exactly two decimals, within [0.01, 100000000], as Alipay requires.

    The one grammar (docs/ecr-protocol.md): ASCII digits, no sign, no leading zero, at most two
    decimals: `(0|[1-9][0-9]{0,8})(\\.[0-9]{1,2})?`. The regex runs before Decimal sees the text:
    Decimal would also take "1e3", " 1", "1_0" and full-width or Arabic-Indic digits.
    """
    if not isinstance(amount, str) or not AMOUNT_GRAMMAR.fullmatch(amount):
        raise ValueError(f'amount must be yuan as ASCII digits with at most two decimals, like "9.90" ({AMOUNT_RULE})')
    value = Decimal(amount)
    if not MIN_AMOUNT <= value <= MAX_AMOUNT:
        raise ValueError("amount must be between 0.01 and 100000000")
    return f"{value:.2f}"


def check_out_trade_no(out_trade_no: str) -> str:
    if not _OUT_TRADE_NO.fullmatch(out_trade_no):
        raise ValueError("out_trade_no must be 1-64 letters, digits or underscores")
    return out_trade_no


@dataclass(frozen=True)
class PayResult:
    """10000: paid. 10003 (`in_process`): the buyer must confirm on the phone; poll trade.query."""

    code: str
    trade_no: str | None
    out_trade_no: str | None
    buyer_logon_id: str | None
    buyer_user_id: str | None
    total_amount: str | None
    receipt_amount: str | None
    gmt_payment: str | None

    @property
    def in_process(self) -> bool:
        return self.code == PAY_IN_PROCESS_CODE


@dataclass(frozen=True, repr=False)
class TradePay(ApiRequest[PayResult]):
    METHOD = "alipay.trade.pay"
    out_trade_no: str
    auth_code: str  # the customer's payment code: a secret, never logged
    subject: str
    total_amount: str
    store_id: str | None = None
    operator_id: str | None = None
    terminal_id: str | None = None
    scene: str = "bar_code"
    timeout_express: str | None = None

    def __post_init__(self) -> None:
        check_out_trade_no(self.out_trade_no)
        object.__setattr__(self, "total_amount", normalise_amount(self.total_amount))
        if not self.subject or any(c in self.subject for c in "/=&"):
            raise ValueError("subject must be non-empty and must not contain / = &")

    def __repr__(self) -> str:
        return f"TradePay(out_trade_no={self.out_trade_no!r}, total_amount={self.total_amount!r})"

    def biz_content(self) -> dict[str, Any]:
        return compact(  # type: ignore[no-any-return]
            {
                "out_trade_no": self.out_trade_no, "scene": self.scene, "auth_code": self.auth_code,
                "subject": self.subject, "total_amount": self.total_amount, "store_id": self.store_id,
                "operator_id": self.operator_id, "terminal_id": self.terminal_id,
                "timeout_express": self.timeout_express,
            }
        )  # fmt: skip

    def parse(self, node: Mapping[str, Any]) -> PayResult:
        return PayResult(
            code=opt_str(node, "code") or "", trade_no=opt_str(node, "trade_no"),
            out_trade_no=opt_str(node, "out_trade_no"), buyer_logon_id=opt_str(node, "buyer_logon_id"),
            buyer_user_id=opt_str(node, "buyer_user_id"), total_amount=opt_str(node, "total_amount"),
            receipt_amount=opt_str(node, "receipt_amount"), gmt_payment=opt_str(node, "gmt_payment"),
        )  # fmt: skip


TRADE_STATUSES = ("WAIT_BUYER_PAY", "TRADE_CLOSED", "TRADE_SUCCESS", "TRADE_FINISHED")


@dataclass(frozen=True)
class TradeStatus:
    trade_status: str
    trade_no: str | None
    out_trade_no: str | None
    total_amount: str | None
    buyer_logon_id: str | None

    @property
    def paid(self) -> bool:
        return self.trade_status in ("TRADE_SUCCESS", "TRADE_FINISHED")

    @property
    def closed(self) -> bool:
        return self.trade_status == "TRADE_CLOSED"


@dataclass(frozen=True)
class TradeQuery(ApiRequest[TradeStatus]):
    METHOD = "alipay.trade.query"
    out_trade_no: str | None = None
    trade_no: str | None = None

    def __post_init__(self) -> None:
        if not (self.out_trade_no or self.trade_no):
            raise ValueError("give out_trade_no or trade_no")

    def biz_content(self) -> dict[str, Any]:
        return compact({"out_trade_no": self.out_trade_no, "trade_no": self.trade_no})  # type: ignore[no-any-return]

    def parse(self, node: Mapping[str, Any]) -> TradeStatus:
        status = node.get("trade_status")
        if not isinstance(status, str) or status not in TRADE_STATUSES:
            shown = repr(status[:40]) if isinstance(status, str) else type(status).__name__
            raise ValueError(f"{self.METHOD}: unknown trade_status {shown}")
        return TradeStatus(str(status), opt_str(node, "trade_no"), opt_str(node, "out_trade_no"),
                           opt_str(node, "total_amount"), opt_str(node, "buyer_logon_id"))  # fmt: skip


@dataclass(frozen=True)
class CancelResult:
    action: str | None  # "close" (was unpaid), "refund" (was paid), None (not found / failed)
    retry_flag: str | None  # "Y": call cancel again
    trade_no: str | None
    out_trade_no: str | None

    @property
    def should_retry(self) -> bool:
        return self.retry_flag == "Y"


@dataclass(frozen=True)
class TradeCancel(ApiRequest[CancelResult]):
    METHOD = "alipay.trade.cancel"
    out_trade_no: str | None = None
    trade_no: str | None = None

    def __post_init__(self) -> None:
        if not (self.out_trade_no or self.trade_no):
            raise ValueError("give out_trade_no or trade_no")

    def biz_content(self) -> dict[str, Any]:
        return compact({"out_trade_no": self.out_trade_no, "trade_no": self.trade_no})  # type: ignore[no-any-return]

    def parse(self, node: Mapping[str, Any]) -> CancelResult:
        return CancelResult(opt_str(node, "action"), opt_str(node, "retry_flag"), opt_str(node, "trade_no"),
                            opt_str(node, "out_trade_no"))  # fmt: skip
