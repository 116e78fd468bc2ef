"""One module per API family; `HANDLERS` maps each OpenAPI method name to its handler."""

from __future__ import annotations

from . import alipaycert, cards, forms, images, oauth, templates, trades
from .context import Handler

HANDLERS: dict[str, Handler] = {
    **images.HANDLERS,
    **templates.HANDLERS,
    **forms.HANDLERS,
    **oauth.HANDLERS,
    **cards.HANDLERS,
    **trades.HANDLERS,
    **alipaycert.HANDLERS,
}

__all__ = ["HANDLERS", "Handler"]
