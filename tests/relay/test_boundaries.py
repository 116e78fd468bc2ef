"""The relay runs at headquarters: loading it must not load the till's daemon, drivers or the simulators,
even through a package's __init__ (which import-linter's contracts do not see)."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ("drivers", "hardware_sim", "agent.daemon", "agent.sales", "agent.ecr.server", "agent.doctor",
             "agent.jobs")  # fmt: skip


def test_loading_every_relay_module_loads_nothing_of_the_till() -> None:
    code = (
        "import importlib, json, pkgutil, sys, relay\n"
        "for info in pkgutil.walk_packages(relay.__path__, 'relay.'):\n"
        "    importlib.import_module(info.name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                       check=True).stdout)  # fmt: skip
    assert "relay.app" in loaded
    assert [m for m in loaded if m.startswith(FORBIDDEN)] == []
