"""The cards `posagent card open` opened on this PC (`opened-cards.json` in the state folder).

A callback's auth_code works once: run `card open` again with the same callback and Alipay only says
isv.code-invalid, although the card exists. This record lets the command answer truthfully ("already
opened: card N") instead of sending the merchant to ask the customer to scan again. Keyed by
`out_serial_no` (derived from template and form submission); holds no personal data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .state import write_atomically

FILE_NAME = "opened-cards.json"
_VERSION = 1


@dataclass(frozen=True)
class OpenedCard:
    out_serial_no: str
    template_id: str
    card_no: str
    opened_at: str  # China time, yyyy-MM-dd HH:mm:ss


def ledger_path(state_dir: Path) -> Path:
    return state_dir / FILE_NAME


def _read(path: Path) -> dict[str, dict[str, str]]:
    """The recorded cards; an unreadable record is treated as empty (it only ever improves a message)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    cards = data.get("cards") if isinstance(data, dict) and data.get("version") == _VERSION else None
    if not isinstance(cards, dict):
        return {}
    return {k: v for k, v in cards.items() if isinstance(v, dict) and all(isinstance(x, str) for x in v.values())}


def find_opened(path: Path, out_serial_no: str) -> OpenedCard | None:
    entry = _read(path).get(out_serial_no)
    if entry is None or not entry.get("card_no"):
        return None
    return OpenedCard(out_serial_no, entry.get("template_id", ""), entry["card_no"], entry.get("opened_at", ""))


def record_opened(path: Path, card: OpenedCard) -> None:
    """Add one card; raises OSError when the folder cannot be written (the caller warns, the card is open)."""
    cards = _read(path)
    cards[card.out_serial_no] = {"template_id": card.template_id, "card_no": card.card_no,
                                 "opened_at": card.opened_at}  # fmt: skip
    write_atomically(path, json.dumps({"version": _VERSION, "cards": cards}, indent=2, ensure_ascii=False) + "\n")
