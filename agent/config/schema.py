"""A small declarative schema: config sections are dataclasses whose fields carry their own docs.

Validation is pure (a dict in, a typed object or a list of precise problems out), so `posagent config
check`, the daemon and the generated configuration reference all read the same definitions.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin

T = TypeVar("T")


@dataclass(frozen=True)
class Range:
    """The values a numeric setting accepts: `low` to `high`, `low` itself excluded when `above`.

    Every int and float setting declares one (a test says so), so a value that would make the agent
    misbehave (0 workers, a negative cap, an endless timeout, nan) is a config error naming its key.
    """

    low: float
    high: float
    above: bool = False  # True: greater than `low` (timeouts, rates); False: at least `low`

    def problem(self, value: float) -> str | None:
        if isinstance(value, float) and not math.isfinite(value):
            return f"expected a finite number {self}"
        too_low = value <= self.low if self.above else value < self.low
        return f"must be {self}, got {value!r}" if too_low or value > self.high else None

    def __str__(self) -> str:
        low, high = _number(self.low), _number(self.high)
        return f"greater than {low} and at most {high}" if self.above else f"from {low} to {high}"


def _number(value: float) -> str:
    if value != int(value):
        return f"{value:g}"
    return f"{int(value):_}" if abs(value) >= 100_000 else str(int(value))  # 10_000_000 reads as TOML does


def setting(
    doc: str,
    default: Any = MISSING,
    *,
    check: Callable[[Any], str | None] | None = None,
    secret: bool = False,
    example: str | None = None,
    between: Range | None = None,
    false_disables: bool = False,
) -> Any:
    """Declare a config field: `doc` says what it is for; `check` returns a problem or None;
    `between` is the range of a numeric setting (checked first, and shown in the reference);
    `false_disables`: an optional setting whose explicit `false` turns it off (None), as leaving it
    out cannot (that gives the default)."""
    metadata = {"doc": doc, "check": check, "secret": secret, "example": example, "range": between,
                "false_disables": false_disables}  # fmt: skip
    if default is MISSING:
        return dataclasses.field(metadata=metadata)
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Problem:
    key: str  # dotted, e.g. "alipay.app_id"
    message: str
    fix: str | None = None  # what to do, when the message alone does not say (the doctor shows it apart)

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" + (f"; {self.fix}" if self.fix else "")


class ConfigError(ValueError):
    """The configuration cannot be used; `problems` names every key at fault."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s) in the configuration:\n{lines}")


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp) if a is not type(None))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin is list:
        return f"list of {_type_name(get_args(tp)[0])}"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false", Path: "a path"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _convert(value: Any, tp: Any, key: str, base_dir: Path, problems: list[Problem]) -> Any:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(tp) if a is not type(None)]
        if len(options) == 1:  # optional: the value's own problems, naming the key inside a table
            return _convert(value, options[0], key, base_dir, problems)
        for option in options:
            attempt: list[Problem] = []
            converted = _convert(value, option, key, base_dir, attempt)
            if not attempt:
                return converted
        problems.append(Problem(key, f"expected {_type_name(tp)}, got {value!r:.60}"))
        return None
    if origin is typing.Literal:
        if value not in get_args(tp):
            problems.append(Problem(key, f"expected {_type_name(tp)}, got {value!r:.60}"))
        return value
    if origin is list:
        if not isinstance(value, list):
            problems.append(Problem(key, f"expected {_type_name(tp)}, got {value!r:.60}"))
            return []
        (item_type,) = get_args(tp)
        return [_convert(v, item_type, f"{key}[{i}]", base_dir, problems) for i, v in enumerate(value)]
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            problems.append(Problem(key, f"expected a table, got {value!r:.60}"))
            return None
        return _build(tp, value, key, base_dir, problems)
    if tp is bool:
        if not isinstance(value, bool):
            problems.append(Problem(key, f"expected true or false, got {value!r:.60}"))
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(Problem(key, f"expected an integer, got {value!r:.60}"))
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(Problem(key, f"expected a number, got {value!r:.60}"))
            return value
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            problems.append(Problem(key, f"expected a string, got {value!r:.60}"))
        return value
    if tp is Path:
        if not isinstance(value, str) or not value:
            problems.append(Problem(key, f"expected a path, got {value!r:.60}"))
            return value
        path = Path(value).expanduser()
        # Relative paths are relative to the config file, not to wherever the daemon was started.
        return path if path.is_absolute() else base_dir / path
    raise TypeError(f"unsupported config type {tp!r} for {key}")


def _build(cls: type[T], data: Mapping[str, Any], prefix: str, base_dir: Path, problems: list[Problem]) -> T:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for name in data:
        if name not in fields:
            close = difflib.get_close_matches(name, fields, n=1)
            suggestion = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(Problem(_join(prefix, name), f"unknown setting{suggestion}"))
    for name, field in fields.items():
        key = _join(prefix, name)
        if name in data and data[name] is False and field.metadata.get("false_disables"):
            kwargs[name] = None  # `key = false`: switched off on purpose
        elif name in data:
            before = len(problems)
            value = _convert(data[name], hints[name], key, base_dir, problems)
            if len(problems) > before and field.metadata.get("false_disables"):
                problems[-1] = Problem(key, f"{problems[-1].message} (false turns it off)")
            bounds: Range | None = field.metadata.get("range")
            in_range = bounds is None or not isinstance(value, int | float) or len(problems) > before
            if not in_range and bounds is not None and (message := bounds.problem(value)) is not None:
                problems.append(Problem(key, message))
            check = field.metadata.get("check")
            if len(problems) == before and check is not None and value is not None:
                message = check(value)
                if message:
                    problems.append(Problem(key, message))
            kwargs[name] = value
        elif field.default is MISSING and field.default_factory is MISSING:
            if dataclasses.is_dataclass(hints[name]):
                kwargs[name] = _build(hints[name], {}, key, base_dir, problems)
            else:
                problems.append(Problem(key, f"required ({field.metadata.get('doc', '')})".rstrip(" ()")))
    if any(p.key.startswith(prefix) for p in problems):
        return None  # type: ignore[return-value]
    built = cls(**kwargs)
    # Rules between settings of one section: the section's own `cross_check()` names them.
    cross_check = getattr(built, "cross_check", None)
    if callable(cross_check):
        problems.extend(Problem(_join(prefix, name), message) for name, message in cross_check())
    return built


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def build(cls: type[T], data: Mapping[str, Any], *, source: str, base_dir: Path) -> T:
    problems: list[Problem] = []
    result = _build(cls, data, "", base_dir, problems)
    if problems:
        raise ConfigError(source, problems)
    return result


@dataclass(frozen=True)
class FieldDoc:
    key: str
    type: str
    default: str | None
    required: bool
    doc: str
    secret: bool
    example: str | None
    range: Range | None = None


def _section(tp: Any) -> type[Any] | None:
    """The dataclass a field holds as a table: itself, optional, or a list of them ([[array]] tables)."""
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return tp
    for arg in get_args(tp):
        if dataclasses.is_dataclass(arg) and isinstance(arg, type):
            return arg
    return None


def describe(cls: type[Any], prefix: str = "") -> list[FieldDoc]:
    """Every setting with its type, default and doc: the source of the configuration reference."""
    hints = typing.get_type_hints(cls)
    out: list[FieldDoc] = []
    for field in dataclasses.fields(cls):
        key = _join(prefix, field.name)
        tp = hints[field.name]
        section = _section(tp)
        if section is not None:
            out.extend(describe(section, f"{key}[]" if get_origin(tp) is list else key))
            continue
        required = field.default is MISSING and field.default_factory is MISSING
        if field.default is not MISSING:
            value = str(field.default) if isinstance(field.default, Path) else field.default
            default = None if value is None else repr(value)
        elif field.default_factory is not MISSING:
            default = repr(field.default_factory())
        else:
            default = None
        type_name = _type_name(tp) + (" or false (off)" if field.metadata.get("false_disables") else "")
        out.append(FieldDoc(key, type_name, default, required, field.metadata.get("doc", ""),
                            bool(field.metadata.get("secret")), field.metadata.get("example"),
                            field.metadata.get("range")))  # fmt: skip
    return out
