"""alipay.offline.material.image.upload: multipart, top-level params, the file part is not signed."""

from __future__ import annotations

from .. import ids
from ..errors import ApiError
from .context import Context, JsonObject, require_str

MAX_IMAGE_BYTES = 5242880
IMAGE_TYPES = frozenset({"jpg", "jpeg", "png", "gif", "bmp"})

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
)


def sniff(content: bytes) -> str | None:
    return next((kind for magic, kind in _MAGIC if content.startswith(magic)), None)


def upload(ctx: Context) -> JsonObject:
    image_type = require_str(ctx.params, "image_type", max_len=8).lower()
    image_name = require_str(ctx.params, "image_name", max_len=128)
    upload = ctx.files.get("image_content")
    if upload is None or not upload.content:
        raise ApiError("40002", "isv.invalid-parameter", "参数无效: image_content不能为空")
    if image_type not in IMAGE_TYPES:
        raise ApiError("40002", "isv.invalid-file-extension", "无效的文件扩展名")
    if len(upload.content) > MAX_IMAGE_BYTES:
        raise ApiError("40002", "isv.invalid-file-size", "文件大小无效，图片不能超过5M")
    if sniff(upload.content) is None:
        raise ApiError("40002", "isv.upload-fail", "文件上传失败: 不是可识别的图片")
    image_id = ids.image_id()
    ctx.db.execute(
        "INSERT INTO images (image_id, app_id, image_type, image_name, size, content, created)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (image_id, ctx.app_id, image_type, image_name, len(upload.content), upload.content, ctx.now),
    )
    return {
        "code": "10000",
        "msg": "Success",
        "image_id": image_id,
        "image_url": f"{ctx.settings.base_url}/images/{image_id}",
    }


def image_exists(ctx: Context, image_id: str) -> bool:
    row = ctx.db.execute("SELECT 1 FROM images WHERE image_id = ? AND app_id = ?", (image_id, ctx.app_id)).fetchone()
    return row is not None


HANDLERS = {"alipay.offline.material.image.upload": upload}
