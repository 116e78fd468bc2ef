"""docs/ecr-protocol.md lists every name the agent can send an ECR: error codes, ops, events, sale and
print-job states, job kinds, printer error codes, outbox kinds and states, scan classes, device
states, member fields. The names are taken from the code (enums, and string literals where the code
has no enum), so a new one that the doc does not mention fails here."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path
from typing import Any, cast

import pytest

import agent
import agent.jobs
from agent.codes import CodeClass
from agent.daemon.devices import WORKING_STATES
from agent.daemon.ops import Operations
from agent.ecr.messages import ErrorCode
from agent.ecr.server import Router
from agent.members.service import MEMBER_FIELDS
from agent.sales.machine import SaleState
from drivers.printer import errors as printer_errors
from drivers.printer.jobs import JobState
from drivers.printer.status import Problem
from drivers.scanners import DeviceState
from offline_queue import State

ROOT = Path(__file__).resolve().parents[3]
DOC = (ROOT / "docs" / "ecr-protocol.md").read_text(encoding="utf-8")
AGENT = Path(agent.__file__).parent


def section(heading: str) -> str:
    """The text under `heading` (a whole line such as "## Events") up to the next heading of its level or above."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = DOC.splitlines()
    start = lines.index(heading)
    end = next((i for i in range(start + 1, len(lines))
                if re.match(rf"#{{1,{level}}} ", lines[i])), len(lines))  # fmt: skip
    return "\n".join(lines[start:end])


def intro(text: str) -> str:
    """A section's own text, before its first subsection."""
    return re.split(r"^#{1,6} ", text.split("\n", 1)[1], maxsplit=1, flags=re.MULTILINE)[0]


def table_names(text: str) -> set[str]:
    """The `names` in the first column of the markdown tables in `text`."""
    return set(re.findall(r"^\| `([^`]+)` \|", text, flags=re.MULTILINE))


def quoted(text: str) -> set[str]:
    """Names written as code or as JSON strings: `name` or "name" (also inside a longer code span)."""
    return set(re.findall(r"(?<=[`\"])([A-Za-z0-9_.]+)(?=[`\"])", text))


def missing(names: set[str], text_names: set[str]) -> list[str]:
    return sorted(names - text_names)


# --- names from the code ---------------------------------------------------------------------------


def agent_sources() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text(encoding="utf-8"))) for path in sorted(AGENT.rglob("*.py"))]


def module_constants(tree: ast.Module) -> dict[str, str]:
    return {target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
            for target in node.targets if isinstance(target, ast.Name)}  # fmt: skip


def literal(node: ast.expr, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    return None


def calls(method: str) -> list[tuple[ast.Call, dict[str, str]]]:
    found = []
    for _, tree in agent_sources():
        constants = module_constants(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == method:
                found.append((node, constants))
    return found


def published_events() -> set[str]:
    names = {literal(call.args[0], constants) for call, constants in calls("publish") if call.args}
    assert None not in names, "publish() with a name that is not a literal: name it in a constant"
    return cast(set[str], names)


def print_job_kinds() -> set[str]:
    kinds: set[str | None] = set()
    for call, constants in calls("submit"):  # the ops' own helper passes its `kind` parameter on
        kinds |= {literal(k.value, constants) for k in call.keywords if k.arg == "kind"} - {None}
    for call, constants in calls("_print"):  # ... which its callers give as literals: (job_id, slip, kind)
        kinds.add(literal(call.args[2], constants))
    assert kinds and None not in kinds, "a print job kind that is not a literal"
    return cast(set[str], kinds)


def device_states() -> set[str]:
    states = {s.value for s in DeviceState} | {p.value for p in Problem}
    states |= {state for kind in WORKING_STATES.values() for state in kind}
    for call, constants in calls("_set_state"):
        if len(call.args) > 2 and (value := literal(call.args[2], constants)) is not None:
            states.add(value)
    return states


def outbox_kinds() -> set[str]:
    kinds = set()
    for info in pkgutil.iter_modules(agent.jobs.__path__):
        module = importlib.import_module(f"agent.jobs.{info.name}")
        if isinstance(getattr(module, "KIND", None), str):
            kinds.add(module.KIND)
    assert kinds
    return kinds


def printer_error_codes() -> set[str]:
    codes = set()
    for value in vars(printer_errors).values():
        if isinstance(value, type) and issubclass(value, printer_errors.PrinterError):
            codes.add(value.code)
    return codes


def registered_ops() -> set[str]:
    router = Router()
    none = cast(Any, None)
    Operations(payments=none, outbox=none, devices=none, status=dict).register(router)
    return {*router.ops, "hello"}


# --- the checks -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("what", "names", "heading", "first_column"),
    [
        ("error codes", lambda: {c.value for c in ErrorCode}, "## Error codes", True),
        ("ops", registered_ops, "## Operations", True),
        ("events", published_events, "## Events", True),
        ("sale states", lambda: {s.value for s in SaleState}, "### The SALE object", False),
        ("print job states", lambda: {s.value for s in JobState}, "### `print.qr` and `print.text`", False),
        ("print job kinds", print_job_kinds, "### `print.qr` and `print.text`", False),
        ("printer error codes", printer_error_codes, "### `print.qr` and `print.text`", False),
        ("outbox states", lambda: {s.value for s in State}, "### `outbox.list` and `outbox.retry`", False),
        ("outbox states in events", lambda: {s.value for s in State}, "## Events", False),
        ("outbox job kinds", outbox_kinds, "## Events", False),
        ("scan classes", lambda: {c.value for c in CodeClass}, "### `scan`", False),
        ("device states", device_states, "### `device.status`", False),
        ("member fields", lambda: set(MEMBER_FIELDS),
         "### Membership: `member.enroll`, `member.open`, `member.lookup`, `loyalty.update`", False),
    ],
)  # fmt: skip
def test_the_protocol_doc_names_everything_the_code_can_send(what: str, names: Any, heading: str,
                                                              first_column: bool) -> None:  # fmt: skip
    text = section(heading)
    documented = table_names(intro(text)) if first_column else quoted(text)
    assert missing(names(), documented) == [], f"{what} missing from '{heading}' in docs/ecr-protocol.md"


def test_the_doc_documents_no_error_code_the_code_lacks() -> None:
    assert table_names(intro(section("## Error codes"))) == {c.value for c in ErrorCode}


def test_the_doc_documents_no_op_the_agent_lacks() -> None:
    assert table_names(intro(section("## Operations"))) <= registered_ops()
