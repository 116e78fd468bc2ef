"""Rules every module of the agent, the drivers, the outbox, the simulators and the relay keeps, read from the source.

Input checks must mean what they say: Python's `\\d` matches any Unicode digit ("١٢٣", "１２３") and `$`
matches before a trailing newline ("A1\\n"), so an id or a number check written the obvious way lets
both through. Every compiled pattern that uses `\\d`, `\\w`, `\\s` or `\\b` is compiled with re.ASCII, and
a pattern anchored with `$` is applied with `fullmatch`, never `match` or `search`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("agent", "drivers", "offline_queue", "hardware_sim", "relay")
SOURCES = sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def compiled_patterns(tree: ast.AST) -> dict[str, tuple[str, str, int]]:
    """Module-level names bound to re.compile(<literal>, <flags>): name -> (pattern, flags text, line)."""
    found: dict[str, tuple[str, str, int]] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)):
            continue
        func = node.value.func
        if not (isinstance(func, ast.Attribute) and func.attr == "compile" and isinstance(func.value, ast.Name)
                and func.value.id == "re"):  # fmt: skip
            continue
        args = node.value.args
        if not args or not isinstance(args[0], ast.Constant) or not isinstance(args[0].value, str):
            continue
        flags = " ".join(ast.unparse(arg) for arg in args[1:]) + " ".join(ast.unparse(k) for k in node.value.keywords)
        for target in node.targets:
            if isinstance(target, ast.Name):
                found[target.id] = (args[0].value, flags, node.lineno)
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_patterns_are_ascii_and_anchored_ones_are_applied_whole(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    patterns = compiled_patterns(tree)
    problems = [
        f"line {line}: {name} uses \\d/\\w/\\s/\\b without re.ASCII"
        for name, (pattern, flags, line) in patterns.items()
        if re.search(r"\\[dwsb]", pattern) and "ASCII" not in flags and "(?a" not in pattern
    ]
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("match", "search")
                and isinstance(node.func.value, ast.Name) and node.func.value.id in patterns
                and patterns[node.func.value.id][0].endswith("$")):  # fmt: skip
            problems.append(f"line {node.lineno}: {node.func.value.id}.{node.func.attr}() with a $-anchored pattern")
    assert not problems, "\n".join(problems)


def test_the_rule_catches_what_it_is_about() -> None:
    bad = ast.parse('import re\nX = re.compile(r"^\\d+$")\nX.match(value)\n')
    (pattern, flags, _), = compiled_patterns(bad).values()
    assert re.search(r"\\[dwsb]", pattern) and "ASCII" not in flags
    # ... and why: both slip through the obvious check.
    assert re.compile(r"^\d+$").match("١٢٣") and re.compile(r"^[A-Z]+$").match("A\n")
