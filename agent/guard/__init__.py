"""Keeping the agent's listeners serving under abuse (pure logic, shared by the HTTP shell and the ECR server).

- `clients`: who a peer is, for per-client limits (an address; all of loopback is one client).
- `slots`: connection caps that shed the greedy client's idle and unfinished connections first.
- `failures`: how long to hold back the answer to a wrong token, so guessing is slow and the right
  token is never slowed down.
"""

from .clients import LOOPBACK, client_key
from .failures import Failure, FailureThrottle
from .slots import Admission, Phase, Slot, SlotTable

__all__ = ["LOOPBACK", "Admission", "Failure", "FailureThrottle", "Phase", "Slot", "SlotTable", "client_key"]
