"""Merchant set-up APIs (seed steps 1 and 2): images, card template, open-card form, activation URL."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from ..envelope import FilePart
from .base import ApiRequest, compact, opt_str, req_str

IMAGE_MIME_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
                    "bmp": "image/bmp"}  # fmt: skip


@dataclass(frozen=True)
class UploadedImage:
    image_id: str
    image_url: str | None


@dataclass(frozen=True)
class ImageUpload(ApiRequest[UploadedImage]):
    """`alipay.offline.material.image.upload`: multipart, the file part is not signed."""

    METHOD = "alipay.offline.material.image.upload"
    image_type: str  # jpg, png, gif, bmp
    image_name: str
    image_content: bytes
    filename: str = "image"

    def text_params(self) -> dict[str, str]:
        return {"image_type": self.image_type, "image_name": self.image_name}

    def files(self) -> dict[str, FilePart]:
        mime = IMAGE_MIME_TYPES.get(self.image_type.lower(), "application/octet-stream")
        return {"image_content": FilePart(self.filename, self.image_content, mime)}

    def parse(self, node: Mapping[str, Any]) -> UploadedImage:
        return UploadedImage(req_str(node, "image_id", self.METHOD), opt_str(node, "image_url"))


@dataclass(frozen=True)
class CreatedTemplate:
    template_id: str


@dataclass(frozen=True)
class TemplateCreate(ApiRequest[CreatedTemplate]):
    """`alipay.marketing.card.template.create`. `request_id` is the idempotency key: keep it across retries.

    `template` holds the template's fields as the API names them (template_style_info,
    column_info_list, field_rule_list, card_level_conf, open_card_conf, ...): the set-up spec builds it.
    """

    METHOD = "alipay.marketing.card.template.create"
    request_id: str
    biz_no_suffix_len: int
    template_style_info: Mapping[str, Any]
    card_type: str = "OUT_MEMBER_CARD"
    biz_no_prefix: str | None = None
    write_off_type: str | None = None
    template: Mapping[str, Any] = field(default_factory=dict)

    def biz_content(self) -> dict[str, Any]:
        body: dict[str, Any] = dict(self.template)
        body.update(
            request_id=self.request_id,
            card_type=self.card_type,
            biz_no_prefix=self.biz_no_prefix,
            biz_no_suffix_len=str(self.biz_no_suffix_len),
            write_off_type=self.write_off_type,
            template_style_info=dict(self.template_style_info),
        )
        return compact(body)  # type: ignore[no-any-return]

    def parse(self, node: Mapping[str, Any]) -> CreatedTemplate:
        return CreatedTemplate(req_str(node, "template_id", self.METHOD))


FORM_FIELDS = {
    "mobile": "OPEN_FORM_FIELD_MOBILE", "name": "OPEN_FORM_FIELD_NAME", "gender": "OPEN_FORM_FIELD_GENDER",
    "birthday": "OPEN_FORM_FIELD_BIRTHDAY", "idcard": "OPEN_FORM_FIELD_IDCARD",
    "email": "OPEN_FORM_FIELD_EMAIL", "address": "OPEN_FORM_FIELD_ADDRESS", "city": "OPEN_FORM_FIELD_CITY",
    "is_student": "OPEN_FORM_FIELD_IS_STUDENT", "member_grade": "OPEN_FORM_FIELD_MEMBER_GRADE",
}  # fmt: skip


def form_field_code(name: str) -> str:
    """`mobile` or `OPEN_FORM_FIELD_MOBILE` -> `OPEN_FORM_FIELD_MOBILE`."""
    if name in FORM_FIELDS.values():
        return name
    try:
        return FORM_FIELDS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown form field {name!r}; known: {', '.join(FORM_FIELDS)}") from None


@dataclass(frozen=True)
class FormTemplateSet(ApiRequest[None]):
    """`alipay.marketing.card.formtemplate.set`: `required`/`optional` are JSON *strings* on the wire."""

    METHOD = "alipay.marketing.card.formtemplate.set"
    template_id: str
    required: Sequence[str]
    optional: Sequence[str] = ()

    def __post_init__(self) -> None:
        if not self.required:
            raise ValueError("at least one required form field is needed")
        required = {form_field_code(f) for f in self.required}
        optional = {form_field_code(f) for f in self.optional}
        if required & optional:
            raise ValueError("a form field cannot be both required and optional")
        if len(required | optional) > 20:
            raise ValueError("at most 20 form fields")

    def biz_content(self) -> dict[str, Any]:
        def as_json(names: Sequence[str]) -> str:
            return json.dumps({"common_fields": [form_field_code(n) for n in names]}, separators=(",", ":"))

        fields = {"required": as_json(self.required)}
        if self.optional:
            fields["optional"] = as_json(self.optional)
        return {"template_id": self.template_id, "fields": fields}

    def parse(self, node: Mapping[str, Any]) -> None:
        return None


@dataclass(frozen=True)
class ActivationUrl:
    url: str  # already URL-decoded, ready for a QR code


@dataclass(frozen=True)
class ActivateUrlApply(ApiRequest[ActivationUrl]):
    METHOD = "alipay.marketing.card.activateurl.apply"
    template_id: str
    callback: str | None = None
    out_string: str | None = None
    follow_app_id: str | None = None

    def biz_content(self) -> dict[str, Any]:
        return compact(  # type: ignore[no-any-return]
            {"template_id": self.template_id, "callback": self.callback, "out_string": self.out_string,
             "follow_app_id": self.follow_app_id}
        )  # fmt: skip

    def parse(self, node: Mapping[str, Any]) -> ActivationUrl:
        # The gateway returns apply_card_url URL-encoded; the QR must carry the decoded URL.
        return ActivationUrl(unquote(req_str(node, "apply_card_url", self.METHOD)))
