"""One module per API family; `HANDLERS` maps each OpenAPI method name to its handler."""

from __future__ import annotations

from . import cards, forms, images, oauth, templates, trades
from .context import Handler

HANDLERS: dict[str, Handler] = {
    **images.HANDLERS,
    **templates.HANDLERS,
    **forms.HANDLERS,
    **oauth.HANDLERS,
    **cards.HANDLERS,
    **trades.HANDLERS,
}

__all__ = ["HANDLERS", "Handler"]
