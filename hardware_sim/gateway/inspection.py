"""The inspection snapshot served at /__admin/inspect: counters plus the state tests assert on.

Payment codes never appear (trades carry a masked code); mobiles are not listed."""

from __future__ import annotations

from typing import Any

from .counters import Counters
from .state import Store


def snapshot(store: Store, counters: Counters) -> dict[str, Any]:
    data: dict[str, Any] = counters.snapshot()
    with store.reading() as db:
        updates: dict[str, list[dict[str, Any]]] = {}
        for row in db.execute("SELECT * FROM card_updates ORDER BY id"):
            updates.setdefault(row["biz_card_no"], []).append(
                {
                    "occur_time": row["occur_time"],
                    "point": row["point"],
                    "balance": row["balance"],
                    "level": row["level"],
                    "regression": bool(row["regression"]),
                }
            )
        cards = [
            {
                "biz_card_no": row["biz_card_no"],
                "template_id": row["template_id"],
                "user_id": row["user_id"],
                "out_serial_no": row["out_serial_no"],
                "external_card_no": row["external_card_no"],
                "point": row["point"],
                "balance": row["balance"],
                "level": row["level"],
                "deleted": bool(row["deleted"]),
                "updates": updates.get(row["biz_card_no"], []),
                "regressions": sum(u["regression"] for u in updates.get(row["biz_card_no"], [])),
            }
            for row in db.execute("SELECT * FROM cards ORDER BY created, biz_card_no")
        ]
        trades = [
            {
                "out_trade_no": row["out_trade_no"],
                "trade_no": row["trade_no"],
                "status": row["status"],
                "total_amount": row["total_amount"],
                "payment_code": row["code_masked"],
                "cancel_action": row["cancel_action"] or None,
                "cancels": row["cancels"],
            }
            for row in db.execute("SELECT * FROM trades ORDER BY created, out_trade_no")
        ]
        templates = [
            {"template_id": row["template_id"], "request_id": row["request_id"], "form_set": row["form"] is not None}
            for row in db.execute("SELECT template_id, request_id, form FROM templates ORDER BY created")
        ]
        counts = {
            table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: S608  (fixed names)
            for table in ("images", "users", "activation_urls", "form_submissions")
        }
    data.update(
        cards=cards,
        regressions=sum(card["regressions"] for card in cards),
        card_updates_total=sum(len(card["updates"]) for card in cards),
        trades=trades,
        templates=templates,
        counts=counts,
    )
    return data
