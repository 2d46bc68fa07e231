"""Draw the phone app's icons (``web/static/app/icons/``) with Pillow: a 3×3 grid with a position dot.

Run ``python scripts/app_icons.py`` after changing the drawing; the PNG files are committed.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

ICONS = Path(__file__).resolve().parents[1] / "web" / "static" / "app" / "icons"
BLUE, WHITE, ORANGE = (31, 58, 95), (255, 255, 255), (244, 162, 97)


def draw(size: int, maskable: bool = False) -> Image.Image:
    """One icon of ``size`` pixels; a maskable icon fills the square and keeps its drawing in the safe zone."""
    scale = 4  # drawn large and reduced, for smooth edges
    big = size * scale
    image = Image.new("RGBA", (big, big), BLUE if maskable else (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    if not maskable:
        pen.rounded_rectangle([0, 0, big - 1, big - 1], radius=big // 5, fill=BLUE)
    inset = big * (0.26 if maskable else 0.18)
    side = big - 2 * inset
    width = max(scale, int(big * 0.035))
    for i in range(4):  # the grid's lines
        at = inset + side * i / 3
        pen.line([(inset, at), (big - inset, at)], fill=WHITE, width=width)
        pen.line([(at, inset), (at, big - inset)], fill=WHITE, width=width)
    cx = cy = inset + side / 2  # a position dot in the middle cell
    r = side / 9
    pen.ellipse([cx - r, cy - r, cx + r, cy + r], fill=ORANGE, outline=WHITE, width=width)
    return image.resize((size, size), Image.LANCZOS)


def main() -> None:
    """Write icon-192.png, icon-512.png and icon-maskable-512.png."""
    ICONS.mkdir(parents=True, exist_ok=True)
    draw(192).save(ICONS / "icon-192.png", optimize=True)
    draw(512).save(ICONS / "icon-512.png", optimize=True)
    draw(512, maskable=True).save(ICONS / "icon-maskable-512.png", optimize=True)


if __name__ == "__main__":
    main()
