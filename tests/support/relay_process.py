"""`posagent relay run` as a process, as headquarters runs each instance: its URL printed first, then
where it listens and where its metrics are."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx


class RelayProcess:
    def __init__(self, config: Path) -> None:
        self.log = config.with_name("relay.log")
        with self.log.open("w") as log:  # a file, not a pipe nobody reads (a full pipe would stall the relay)
            self.process = subprocess.Popen([sys.executable, "-m", "agent.cli.main", "relay", "run", "--config",
                                             str(config)], stdout=subprocess.PIPE, stderr=log, text=True)  # fmt: skip
        assert self.process.stdout is not None
        self.first_line = self.process.stdout.readline().strip()
        second = self.process.stdout.readline()
        found = re.search(r"listening on (\S+), metrics (\S+);", second)
        assert found, (self.first_line, second, self.log.read_text())
        self.url, self.metrics_url = found.group(1), found.group(2)

    def metric(self, name: str) -> float:
        text = httpx.get(self.metrics_url, timeout=5).text
        found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
        return float(found.group(1)) if found else 0.0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
