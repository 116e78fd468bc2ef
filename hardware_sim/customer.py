"""The simulated customer: scans an activation QR, fills the open-card form, follows the callback.

result = open_card(url, mobile="13800138000", name="Li Lei")
result.params["auth_code"], result.callback_status
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import unquote
from urllib.request import Request, urlopen


class CustomerError(RuntimeError):
    """The activation page refused the form or could not be reached."""


@dataclass
class CustomerResult:
    callback_url: str | None
    params: dict[str, str] = field(default_factory=dict)
    callback_status: int | None = None
    callback_body: str = ""
    error: str | None = None  # what went wrong when following the callback (never raised)


def decode_activation_url(url: str) -> str:
    """Accept the URL-encoded `apply_card_url` as returned by activateurl.apply, or a decoded one."""
    return unquote(url) if url.lower().startswith("http%3a") else url


def open_card(
    activation_url: str,
    *,
    mobile: str,
    name: str,
    gender: str | None = None,
    birthday: str | None = None,
    extra: dict[str, str] | None = None,
    follow_callback: bool = True,
    timeout: float = 10.0,
) -> CustomerResult:
    url = decode_activation_url(activation_url)
    if not url.startswith(("http://", "https://")):
        raise CustomerError("the activation URL must be http(s)")
    answers = {"mobile": mobile, "name": name, **(extra or {})}
    if gender:
        answers["gender"] = gender
    if birthday:
        answers["birthday"] = birthday
    form = _json(Request(url, headers={"Accept": "application/json"}), timeout)  # noqa: S310  (http(s) checked)  # what the form asks
    asked = {form["field_names"].get(code, code) for code in [*form["required"], *form["optional"]]}
    answers = {k: v for k, v in answers.items() if k in asked or k == "mobile"}
    submitted = _json(
        Request(  # noqa: S310  (http(s) checked above)
            url,
            data=json.dumps(answers).encode(),
            method="POST",
            headers={"Accept": "application/json", "Content-Type": "application/json"},
        ),
        timeout,
    )
    result = CustomerResult(callback_url=submitted.get("callback_url"), params=dict(submitted.get("params", {})))
    if follow_callback and result.callback_url:
        _follow(result, timeout)
    return result


def _json(request: Request, timeout: float) -> dict[str, Any]:
    try:
        with urlopen(request, timeout=timeout) as response:  # noqa: S310  (the simulator's own page)
            data = json.loads(response.read())
    except HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        raise CustomerError(f"activation page answered HTTP {exc.code}: {detail}") from None
    except (URLError, OSError, ValueError) as exc:
        raise CustomerError(f"activation page unreachable or unreadable: {exc}") from None
    if not isinstance(data, dict):
        raise CustomerError("activation page answered something other than a JSON object")
    return data


def _follow(result: CustomerResult, timeout: float) -> None:
    assert result.callback_url is not None
    try:
        with urlopen(Request(result.callback_url), timeout=timeout) as response:  # noqa: S310
            result.callback_status = response.status
            result.callback_body = response.read(4096).decode("utf-8", "replace")
    except HTTPError as exc:
        result.callback_status = exc.code
        result.callback_body = exc.read(4096).decode("utf-8", "replace")
    except (URLError, OSError, ValueError) as exc:
        result.error = f"callback not reachable: {exc}"


def mask_mobile(mobile: str) -> str:
    return mobile[:3] + "****" + mobile[-4:] if len(mobile) >= 7 else "***"


__all__ = ["CustomerError", "CustomerResult", "decode_activation_url", "mask_mobile", "open_card"]
