"""What every typed API request has in common."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar

from ..envelope import FilePart

R = TypeVar("R")


class ApiRequest(ABC, Generic[R]):
    """One OpenAPI call: where its parameters go and how its reply node becomes a typed result."""

    METHOD: ClassVar[str]

    def biz_content(self) -> dict[str, Any] | None:
        """The `biz_content` object, or None for APIs that use top-level parameters."""
        return None

    def text_params(self) -> dict[str, str]:
        """Top-level business parameters (oauth, image upload)."""
        return {}

    def files(self) -> dict[str, FilePart]:
        return {}

    def user_auth_token(self) -> str | None:
        """The customer's access token (`auth_token`), for the APIs that act for a user."""
        return None

    @abstractmethod
    def parse(self, node: Mapping[str, Any]) -> R:
        """Turn a verified success node into the typed result."""


def compact(value: Any) -> Any:
    """Drop None values (and empty containers they leave) so absent fields are never sent."""
    if isinstance(value, dict):
        out = {k: compact(v) for k, v in value.items() if v is not None}
        return {k: v for k, v in out.items() if v not in ({}, [])}
    if isinstance(value, list):
        return [compact(v) for v in value if v is not None]
    return value


def opt_str(node: Mapping[str, Any], key: str) -> str | None:
    """A text field of a reply: strings, and numbers some gateways send for ids; anything else is refused
    (rendering a hostile nested value could itself fail)."""
    value = node.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(value)
    raise ValueError(f"{key!r} is not text")


def req_str(node: Mapping[str, Any], key: str, method: str) -> str:
    value = node.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{method}: success reply without {key!r}")
    return value
