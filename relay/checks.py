"""Which callbacks the relay forwards, and to which till. Pure: the caller passes the query and a way to find a
till's out_string MAC key (None: no such till).

Cheapest first, the same checks as the agent's own endpoint (`agent.members.callback_checks`), then
routing: out_string names store and till in clear (`out_string.parse`), the chain's keys folder must hold
that till's key, and the out_string's MAC must verify under it. So a phone can only make the relay
publish a callback for a slip a till of this chain really printed; an edited out_string (another till,
another enrollment) is refused here, before any publish.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from agent.fleet.topics import TillRef
from agent.members import out_string
from agent.members.callback_checks import CallbackValues, WrongApp, WrongTemplate, check_values, query_params
from agent.members.open_card import CallbackError

# Why a callback was refused: the `reason` label of the relay's refusal counter (a fixed, small set).
REASONS = ("method", "parameters", "app", "template", "out_string", "unknown_till", "mac")


class Refusal(Exception):
    """The callback is not forwarded. `message` is safe to show and log (it never quotes the auth_code)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class RoutedCallback:
    """A callback that passed every check, and the till it goes to."""

    till: TillRef
    values: CallbackValues
    params: Mapping[str, str]  # as Alipay sent them: what the till receives

    def __repr__(self) -> str:  # params hold the auth_code, a secret
        return f"RoutedCallback(till={self.till.name!r}, request_id={self.values.request_id!r})"


MacKeyOf = Callable[[TillRef], bytes | None]


def route_callback(query: str, *, chain: str, app_id: str, template_ids: Collection[str],
                   mac_key_of: MacKeyOf) -> RoutedCallback:  # fmt: skip
    """The checked callback and its till; Refusal (with its reason) for anything else."""
    try:
        params = query_params(query)
        values = check_values(params, app_id=app_id, template_ids=template_ids,
                              template_error="template_id is not one of the chain's card templates")  # fmt: skip
    except WrongApp as exc:
        raise Refusal("app", str(exc)) from None
    except WrongTemplate as exc:
        raise Refusal("template", str(exc)) from None
    except CallbackError as exc:
        raise Refusal("parameters", str(exc)) from None
    if values.out_string is None:
        # A slip printed while its till could not reach Alipay carries the template's bare URL: nothing
        # says which till it came from, so headquarters cannot route it.
        raise Refusal("out_string", "the callback carries no out_string, so it cannot be routed to a till")
    try:
        slip = out_string.parse(values.out_string)
    except out_string.OutStringError as exc:
        raise Refusal("out_string", str(exc)) from None
    till = TillRef(chain, slip.store, slip.till)  # parse checked the ids' shape
    key = mac_key_of(till)
    if key is None:
        raise Refusal("unknown_till", f"store {slip.store} till {slip.till} is not a till of this chain")
    try:
        out_string.verify(key, values.out_string)
    except out_string.OutStringError as exc:
        raise Refusal("mac", str(exc)) from None
    return RoutedCallback(till, values, params)
