"""What every check may use: the loaded config, the clock, the service's identity (injectable for tests)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent.config import AgentConfig

SERVICE_USER = "posagent"  # the unit's User=
SERVICE_UNIT = "posagent"
# The unit's SupplementaryGroups=: the device groups the service gets whatever /etc/group says.
SERVICE_GROUPS = ("dialout", "lp", "input", "video")
UDEV_RULES = "deploy/udev/60-posagent.rules"


@dataclass(frozen=True)
class Context:
    config_path: Path
    config: AgentConfig | None = None
    clock: Callable[[], float] = time.time  # epoch seconds: the local clock the gateway's is compared to
    network_timeout: float = 5.0  # upper bound for any one connection the doctor makes
    service_user: str = SERVICE_USER
    service_unit: str = SERVICE_UNIT
    service_groups: tuple[str, ...] = SERVICE_GROUPS

    @property
    def agent_config(self) -> AgentConfig:
        """For checks that only run with a valid config (the runner guarantees it)."""
        if self.config is None:
            raise RuntimeError("this check needs a valid config")
        return self.config
