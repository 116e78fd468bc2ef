"""Merchant set-up (card template, open-card form): card images, the template spec and its state file.

Pure code: the `posagent card` commands (agent.cli.card) do the file and network I/O.
"""

from .images import ImageCheck, ImageError, ImageKind, ImageRule, check_image, fit, sniff_format
from .spec import SpecError, TemplateSpec, load_spec, parse_spec
from .state import StateError, TemplateState, load_state, new_request_id, save_state, sha256_hex, state_path_for

__all__ = [
    "ImageCheck", "ImageError", "ImageKind", "ImageRule", "SpecError", "StateError", "TemplateSpec",
    "TemplateState", "check_image", "fit", "load_spec", "load_state", "new_request_id", "parse_spec",
    "save_state", "sha256_hex", "sniff_format", "state_path_for",
]  # fmt: skip
