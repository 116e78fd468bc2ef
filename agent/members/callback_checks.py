"""The open-card callback's checks that need no I/O and no till: shared by the agent's own endpoint
(`MemberService.parse_callback`) and the headquarters relay (`relay.checks`), so both refuse the same
requests in the same words.

    params = query_params(urlsplit(target).query)            # count, repeats: CallbackError
    values = check_values(params, app_id=..., template_ids=...)  # names, shapes, app, template

Which till the callback belongs to (the out_string's MAC) is the caller's business: the agent verifies
under its own key, the relay under the key of the till out_string names. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from .open_card import CallbackError, check_auth_code, check_request_id, check_template_id

MAX_PARAMETERS = 20  # Alipay sends 7 at most; room for what a console may add, no more
MAX_VALUE_CHARS = 512
AUTH_CODE_MAX = 40  # oauth.token takes codes of up to 40 characters
CALLBACK_PARAMS = frozenset(
    {"auth_code", "template_id", "request_id", "out_string", "app_id", "scope", "state", "isv_app_id"}
)


class WrongApp(CallbackError):
    """The callback names another app (another environment's QR code)."""


class WrongTemplate(CallbackError):
    """The callback's template is not one this till (or chain) enrolls with."""


@dataclass(frozen=True)
class CallbackValues:
    """A callback's parameters that passed the checks needing no key."""

    auth_code: str
    template_id: str
    request_id: str
    app_id: str | None
    out_string: str | None

    def __repr__(self) -> str:  # the auth_code is a secret
        return (f"CallbackValues(template_id={self.template_id!r}, request_id={self.request_id!r}, "
                f"out_string={self.out_string!r})")  # fmt: skip


def query_params(query: str, max_parameters: int = MAX_PARAMETERS) -> dict[str, str]:
    """The parameters of a callback's query string; CallbackError for too many or a repeated one.

    Counted before parsing (empty fields aside), so a query of thousands of fields costs one split."""
    fields = [field for field in query.split("&") if field]
    if len(fields) > max_parameters:
        raise CallbackError(f"too many parameters ({len(fields)}; a callback has at most {max_parameters})")
    params: dict[str, str] = {}
    for key, value in parse_qsl("&".join(fields), keep_blank_values=True):
        if key in params:
            raise CallbackError(f"{key[:30]!r} is given twice")
        params[key] = value
    return params


def check_values(params: Mapping[str, object], *, app_id: str, template_ids: Collection[str],
                 template_error: str = "template_id is not a template of this app") -> CallbackValues:  # fmt: skip
    """Names, shapes, app and template of a callback's parameters; raises CallbackError naming the fault."""
    unknown = sorted(str(k) for k in params if k not in CALLBACK_PARAMS)
    if unknown:
        raise CallbackError(f"unexpected parameters: {', '.join(repr(k[:30]) for k in unknown[:5])}")
    if any(not isinstance(v, str) or len(v) > MAX_VALUE_CHARS for v in params.values()):
        raise CallbackError(f"parameters must be strings of at most {MAX_VALUE_CHARS} characters")
    values = {str(k): str(v) for k, v in params.items()}
    for name in ("auth_code", "template_id", "request_id"):
        if not values.get(name):
            raise CallbackError(f"{name} is required")
    auth_code = check_auth_code(values["auth_code"])
    if len(auth_code) > AUTH_CODE_MAX:
        raise CallbackError(f"auth_code: expected 1-{AUTH_CODE_MAX} letters or digits")
    template_id = check_template_id(values["template_id"])
    request_id = check_request_id(values["request_id"])
    given_app = values.get("app_id") or None
    if given_app is not None and given_app != app_id:
        raise WrongApp(f"app_id {given_app[:20]!r} is not this agent's app")
    if template_id not in template_ids:
        raise WrongTemplate(template_error)
    return CallbackValues(auth_code, template_id, request_id, given_app, values.get("out_string") or None)
