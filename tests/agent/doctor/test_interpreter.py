"""The interpreter check: the service user must be able to run the Python systemd starts the agent with."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.doctor import Context
from agent.doctor.checks.interpreter import check_interpreter, closed_directory, may_enter, shebang_interpreter
from agent.doctor.checks.permissions import User

NOBODY = User("nobody", 65534, frozenset({65534}))


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory anyone may enter (pytest's tmp_path sits under a 0700 directory: useless here)."""
    path = Path(tempfile.mkdtemp(prefix="posagent-interp-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def service_program(venv: Path, python: str) -> Path:
    """What pip writes: bin/posagent whose #! line names the venv's python, a link to the base interpreter."""
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(python)
    script = venv / "bin" / "posagent"
    script.write_text(f"#!{venv}/bin/python\nimport sys\n")
    script.chmod(0o755)
    return script


def test_a_venv_whose_python_is_under_a_closed_directory_fails_with_the_fix(open_dir: Path) -> None:
    # The case: a pyenv interpreter under /root (0700); root runs it fine, the service user cannot.
    closed = open_dir / "root-home"
    closed.mkdir(mode=0o700)
    (closed / "python3.11").symlink_to(os.path.realpath("/usr/bin/python3.11"))
    program = service_program(open_dir / "venv", str(closed / "python3.11"))
    ctx = Context(Path("/etc/posagent/agent.toml"), service_user="nobody", service_program=program)
    [finding] = check_interpreter(ctx)
    assert finding.status == "FAIL" and "nobody cannot run" in finding.message
    assert f"{closed} is closed to it" in finding.message
    if os.geteuid() == 0:  # tried for real, as nobody: the kernel's own answer
        assert "Permission denied" in finding.message
    assert finding.fix is not None and "--python /usr/bin/python3.11" in finding.fix


def test_an_interpreter_the_service_user_runs_is_ok(open_dir: Path) -> None:
    me = "root" if os.geteuid() == 0 else os.environ.get("USER", "root")
    python = open_dir / "python"  # stands for a venv's python that has the agent: it answers the imports with 0
    python.write_text("#!/bin/sh\nexit 0\n")
    python.chmod(0o755)
    program = open_dir / "posagent"
    program.write_text(f"#!{python}\n")
    [finding] = check_interpreter(Context(Path("/etc/posagent/agent.toml"), service_user=me, service_program=program))
    assert finding.status == "OK" and f"{me} can run {python}" in finding.message


def test_an_interpreter_without_the_agent_fails_with_python_s_own_words(open_dir: Path) -> None:
    program = open_dir / "posagent"
    program.write_text("#!/usr/bin/python3.11\n")  # Debian's Python, without the agent's virtualenv
    [finding] = check_interpreter(Context(Path("/etc/posagent/agent.toml"), service_user="nobody",
                                          service_program=program))  # fmt: skip
    if os.geteuid() == 0:  # tried as nobody
        assert finding.status == "FAIL" and "No module named 'agent'" in finding.message
    else:  # the doctor cannot switch users: the modes are all it can judge
        assert finding.status == "OK" and "judged from the modes" in finding.message


def test_a_missing_service_program_says_install(open_dir: Path) -> None:
    ctx = Context(Path("/etc/posagent/agent.toml"), service_user="nobody", service_program=open_dir / "posagent")
    [finding] = check_interpreter(ctx)
    assert finding.status == "FAIL" and finding.fix is not None and "deploy/install.sh" in finding.fix


def test_a_development_config_is_not_judged_by_the_service_interpreter(open_dir: Path) -> None:
    ctx = Context(open_dir / "agent.toml", service_user="nobody", service_program=open_dir / "missing")
    [finding] = check_interpreter(ctx)
    assert finding.status == "OK" and "development config" in finding.message


def test_search_bits_and_the_closed_directory_on_the_way(open_dir: Path) -> None:
    assert may_enter(0o711, 0, 0, NOBODY) and not may_enter(0o770, 0, 65534 + 1, NOBODY)
    assert not may_enter(0o007, 65534, 0, NOBODY)  # the owner's bits apply to the owner, even when they say no
    closed = open_dir / "closed"
    closed.mkdir(mode=0o700)
    (open_dir / "link").symlink_to(closed / "python")
    assert closed_directory(open_dir / "link", NOBODY) == closed  # reached through a link: its target's way
    assert closed_directory(Path("/usr/bin/python3"), NOBODY) is None


def test_the_interpreter_a_script_names() -> None:
    assert shebang_interpreter(b"#!/opt/posagent/venv/bin/python\nimport x\n") == "/opt/posagent/venv/bin/python"
    assert shebang_interpreter(b"#! /usr/bin/env python3\n") == "/usr/bin/env"
    assert shebang_interpreter(b"import x\n") is None
