"""Page mode (ESC L ... FF): lines and images are laid out in a print area, then printed at once.

ESC W sets the area (x, y, width, height in dots), ESC T the print direction (0 left to right,
1 bottom to top, 2 right to left upside down, 3 top to bottom), GS $ / GS \\ the vertical position,
ESC $ / ESC \\ the horizontal one (handled by the line buffer). Content is drawn on a canvas in
the print direction and turned into paper orientation when printed (FF, ESC FF).

Simplification (noted in the job): each line or image is placed with its top at the current
vertical position, where Epson places the baseline of the first line at the character height.
"""

from __future__ import annotations

from PIL import Image, ImageChops

DEFAULT_PAGE_HEIGHT = 1662  # dots: Epson's default page-mode area height at 203 dpi
_ROTATIONS = {
    1: Image.Transpose.ROTATE_90,  # written bottom to top: the canvas turns a quarter anticlockwise
    2: Image.Transpose.ROTATE_180,
    3: Image.Transpose.ROTATE_270,
}


class PageBuffer:
    def __init__(self, paper_width: int) -> None:
        self.paper_width = paper_width
        self.area = (0, 0, paper_width, DEFAULT_PAGE_HEIGHT)
        self.direction = 0
        self.y = 0
        self.inked = False
        self._canvas = self._blank()

    def _logical_size(self) -> tuple[int, int]:
        _, _, width, height = self.area
        return (width, height) if self.direction in (0, 2) else (height, width)

    def _blank(self) -> Image.Image:
        return Image.new("1", self._logical_size(), 1)

    @property
    def width(self) -> int:
        """Width of a line in the print direction."""
        return self._logical_size()[0]

    def set_area(self, x: int, y: int, width: int, height: int) -> None:
        x = min(x, self.paper_width - 1)
        width = max(1, min(width or self.paper_width, self.paper_width - x))
        self.area = (x, y, width, max(1, height or DEFAULT_PAGE_HEIGHT))
        self.clear()

    def set_direction(self, direction: int) -> None:
        if direction != self.direction:
            self.direction = direction
            self.clear()

    def clear(self) -> None:
        self._canvas = self._blank()
        self.y = 0
        self.inked = False

    def place(self, band: Image.Image) -> None:
        """A printed line or image (1 = white, full paper width) at the current vertical position."""
        ink = ImageChops.invert(band.convert("L")).crop((0, 0, self._canvas.width, band.height))
        if ink.getbbox() is not None:
            self.inked = True
        self._canvas.paste(0, (0, self.y), ink.convert("1"))
        self.y += band.height

    def render(self) -> Image.Image:
        """The page as it comes out of the printer: paper width, the area at its x and y."""
        canvas = self._canvas
        if self.direction in _ROTATIONS:
            canvas = canvas.transpose(_ROTATIONS[self.direction])
        x, y, _, _ = self.area
        used = ImageChops.invert(canvas.convert("L")).getbbox()
        height = y + (used[3] if used else 0)
        page = Image.new("1", (self.paper_width, max(1, height)), 1)
        page.paste(canvas.crop((0, 0, canvas.width, height - y)), (x, y))
        return page
