"""The state file beside a template spec (`SPEC.state.json`): what must survive between runs.

It holds the template's `request_id` (generated once, written BEFORE the first call so a retry
after an unknown outcome reuses it and Alipay returns the same template), the uploaded image ids
keyed by the file's sha256 (so images are not uploaded again) and the template_id once known.
Writes are atomic (temp file, fsync, rename): a crash leaves the old state or the new, never half.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent import atomic_file

STATE_VERSION = 1


class StateError(ValueError):
    """The state file exists but cannot be used; it is never overwritten silently."""


@dataclass
class UploadedImage:
    image_id: str
    file: str  # the file name when uploaded, for people reading the state


@dataclass
class TemplateState:
    request_id: str
    template_id: str | None = None
    spec_sha256: str | None = None  # of the spec text the template was created from
    images: dict[str, UploadedImage] = field(default_factory=dict)  # file sha256 -> upload

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "request_id": self.request_id,
            "template_id": self.template_id,
            "spec_sha256": self.spec_sha256,
            "images": {
                digest: {"image_id": up.image_id, "file": up.file} for digest, up in sorted(self.images.items())
            },
        }

    @classmethod
    def from_json(cls, data: Any) -> TemplateState:
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise StateError(f"not a version {STATE_VERSION} state file")
        request_id = data.get("request_id")
        if not isinstance(request_id, str) or not request_id:
            raise StateError("request_id is missing")
        template_id = data.get("template_id")
        spec_sha256 = data.get("spec_sha256")
        if template_id is not None and not isinstance(template_id, str):
            raise StateError("template_id is not a string")
        if spec_sha256 is not None and not isinstance(spec_sha256, str):
            raise StateError("spec_sha256 is not a string")
        images: dict[str, UploadedImage] = {}
        raw_images = data.get("images", {})
        if not isinstance(raw_images, dict):
            raise StateError("images is not an object")
        for digest, up in raw_images.items():
            if not isinstance(up, dict) or not isinstance(up.get("image_id"), str):
                raise StateError(f"images.{digest} has no image_id")
            images[digest] = UploadedImage(up["image_id"], str(up.get("file", "")))
        return cls(request_id, template_id, spec_sha256, images)


def new_request_id() -> str:
    """32 characters, the documented maximum for template.create's request_id."""
    return secrets.token_hex(16)


def state_path_for(spec_path: Path) -> Path:
    """`card-template.toml` -> `card-template.state.json`, in the same folder."""
    return spec_path.with_name(spec_path.stem + ".state.json")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_state(path: Path) -> TemplateState | None:
    """The stored state, or None when there is none yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise StateError(f"{path}: cannot be read ({exc})") from None
    try:
        return TemplateState.from_json(json.loads(text))
    except (ValueError, StateError) as exc:
        raise StateError(
            f"{path}: unusable state file ({exc}); it may hold the request_id of a template being created, "
            "so it is left alone: fix it or move it away if you are sure no template was created"
        ) from None


def save_state(path: Path, state: TemplateState) -> None:
    """Replace the state file atomically and durably."""
    write_atomically(path, json.dumps(state.to_json(), indent=2, ensure_ascii=False) + "\n")


def write_atomically(path: Path, text: str) -> None:
    """Replace a text file atomically and durably (see agent.atomic_file)."""
    atomic_file.write_atomically(path, text.encode("utf-8"))


__all__ = [
    "StateError", "TemplateState", "UploadedImage", "load_state", "new_request_id", "save_state", "sha256_hex",
    "state_path_for", "write_atomically",
]  # fmt: skip
