"""Typed requests and results for every OpenAPI method the agent calls."""

from .base import ApiRequest
from .cards import (
    ActivateForm,
    ActivateFormQuery,
    CardDelete,
    CardInfo,
    CardOpen,
    CardQuery,
    CardUpdate,
    CardUpdated,
    DeletedCard,
    MemberInfo,
    OpenedCard,
    QueriedCard,
)
from .certs import AlipayCertDownload
from .oauth import AccessToken, OAuthToken
from .setup import (
    ActivateUrlApply,
    ActivationUrl,
    CreatedTemplate,
    FormTemplateSet,
    ImageUpload,
    TemplateCreate,
    UploadedImage,
    form_field_code,
)
from .trades import CancelResult, PayResult, TradeCancel, TradePay, TradeQuery, TradeStatus, normalise_amount

__all__ = [
    "AccessToken", "ActivateForm", "ActivateFormQuery", "ActivateUrlApply", "ActivationUrl", "AlipayCertDownload",
    "ApiRequest",
    "CancelResult", "CardDelete", "CardInfo", "CardOpen", "CardQuery", "CardUpdate", "CardUpdated",
    "CreatedTemplate", "DeletedCard", "FormTemplateSet", "ImageUpload", "MemberInfo", "OAuthToken",
    "OpenedCard", "PayResult", "QueriedCard", "TemplateCreate", "TradeCancel", "TradePay", "TradeQuery",
    "TradeStatus", "UploadedImage", "form_field_code", "normalise_amount",
]  # fmt: skip
