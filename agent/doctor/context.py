"""What every check may use: the loaded config, the clock, the service's identity (injectable for tests)."""

from __future__ import annotations

import os
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
# The unit's ConfigurationDirectory= and ExecStart=: the config the service runs with lives here, and this
# program (a script whose #! line names the virtualenv's interpreter) is what systemd starts.
SERVICE_CONFIG_DIR = Path("/etc/posagent")
SERVICE_PROGRAM = Path("/opt/posagent/venv/bin/posagent")


def is_service_config(path: Path) -> bool:
    """A config under /etc/posagent is the installed service's; any other (the demo's var/demo/agent.toml, a
    developer's checkout) is a development config, run by whoever starts it, not by the service user.

    The path is the signal because the unit names it (--config /etc/posagent/agent.toml) and install.sh
    writes it there: it needs no marker that a copied config could carry to the wrong place.
    """
    return SERVICE_CONFIG_DIR in Path(os.path.abspath(path)).parents


@dataclass(frozen=True)
class Context:
    config_path: Path
    config: AgentConfig | None = None
    clock: Callable[[], float] = time.time  # epoch seconds: the local clock the gateway's is compared to
    network_timeout: float = 5.0  # upper bound for any one connection the doctor makes
    service_user: str = SERVICE_USER
    service_unit: str = SERVICE_UNIT
    service_groups: tuple[str, ...] = SERVICE_GROUPS
    service_program: Path = SERVICE_PROGRAM
    production: bool | None = None  # None: from the config's path (is_service_config)

    @property
    def judges_service(self) -> bool:
        """Owners, device access, the interpreter and the unit are judged for the service user (else: for
        whoever runs the doctor, since that is who runs a development config)."""
        return self.production if self.production is not None else is_service_config(self.config_path)

    @property
    def agent_config(self) -> AgentConfig:
        """For checks that only run with a valid config (the runner guarantees it)."""
        if self.config is None:
            raise RuntimeError("this check needs a valid config")
        return self.config
