"""A stand-in for zxingcpp.read_barcodes that records what each call asked for."""

from __future__ import annotations

from typing import Any

import zxingcpp


class ReadSpy:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self._read = zxingcpp.read_barcodes

    def __call__(self, image: Any, **options: Any) -> Any:
        self.calls.append({"shape": image.shape, **options})
        return self._read(image, **options)
