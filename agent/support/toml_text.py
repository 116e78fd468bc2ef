"""A small TOML writer for what `tomllib` reads back: tables, arrays of tables, scalars, arrays.

Only the support bundle uses it (to rebuild a redacted config), so it favours plain output over
preserving the original layout; comments are lost, which is also where secrets sometimes hide.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Any

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else json.dumps(name, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        # JSON string escapes are a subset of TOML basic-string escapes.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, Mapping) for item in value)


def _table(data: Mapping[str, Any], path: list[str], out: list[str]) -> None:
    scalars = [(k, v) for k, v in data.items() if not isinstance(v, Mapping) and not _is_table_array(v)]
    for name, value in scalars:
        out.append(f"{_key(name)} = {_value(value)}")
    for name, value in data.items():
        child = [*path, _key(name)]
        if isinstance(value, Mapping):
            out.extend(["", f"[{'.'.join(child)}]"])
            _table(value, child, out)
        elif _is_table_array(value):
            for item in value:
                out.extend(["", f"[[{'.'.join(child)}]]"])
                _table(item, child, out)


def dumps(data: Mapping[str, Any]) -> str:
    out: list[str] = []
    _table(data, [], out)
    return "\n".join(out).lstrip("\n") + "\n"
