"""The till's end of the chain's fleet link (issue 12): one persistent MQTT session to the chain's broker.

- `settings`: what the link needs, from the config and its secret files (pure);
- `delivery`: what a received message becomes (queued, a duplicate, refused, retried later) (pure);
- `status`: the retained status message and when to republish it (pure);
- `state`: the link's state for the status page, status.get and /metrics (pure);
- `client`: the paho-mqtt shell that ties them to the broker and the event loop.

Topics and message formats are the shared contract in `agent.fleet`.

`FleetLink` is imported on first use: paho-mqtt (~10 MiB) stays out of tills without a fleet link.
"""

from typing import TYPE_CHECKING

from .delivery import Outcome, Verdict, deliver_callback
from .settings import LinkSettings, link_settings
from .state import LinkPhase, LinkState

if TYPE_CHECKING:
    from .client import FleetLink


def __getattr__(name: str) -> object:
    if name == "FleetLink":
        from .client import FleetLink  # noqa: PLC0415 - see the module's docstring

        return FleetLink
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["FleetLink", "LinkPhase", "LinkSettings", "LinkState", "Outcome", "Verdict", "deliver_callback",
           "link_settings"]  # fmt: skip
