"""Draw the app's PNG icons (192 and 512 px) from the shapes of webapp/static/icons/icon.svg.

Run once, output committed: ``python3 scripts/make_icons.py``. Standard library only (zlib,
struct): a rounded square in the accent colour with a white speech bubble, as in the SVG,
drawn 4x4 supersampled.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

ICONS = Path(__file__).resolve().parent.parent / "webapp" / "static" / "icons"
ACCENT = (0x2F, 0x5D, 0x50)
WHITE = (0xFF, 0xFF, 0xFF)
SAMPLES = 4


def inside_bubble(x: float, y: float) -> bool:
    """The SVG's path M8 10h16v10H14l-5 4v-4H8z, in its 32-unit square."""
    if 8 <= x <= 24 and 10 <= y <= 20:
        return True
    # The tail: the triangle (9,20) (14,20) (9,24).
    return x >= 9 and y >= 20 and (x - 9) / 5 + (y - 20) / 4 <= 1


def inside_square(x: float, y: float, radius: float = 7) -> bool:
    cx = min(max(x, radius), 32 - radius)
    cy = min(max(y, radius), 32 - radius)
    return (x - cx) ** 2 + (y - cy) ** 2 <= radius**2


def pixel(px: int, py: int, size: int) -> tuple[int, int, int, int]:
    colour = [0.0, 0.0, 0.0]
    alpha = 0
    for sy in range(SAMPLES):
        for sx in range(SAMPLES):
            x = (px + (sx + 0.5) / SAMPLES) * 32 / size
            y = (py + (sy + 0.5) / SAMPLES) * 32 / size
            if not inside_square(x, y):
                continue
            alpha += 1
            rgb = WHITE if inside_bubble(x, y) else ACCENT
            for i in range(3):
                colour[i] += rgb[i]
    if alpha == 0:
        return (0, 0, 0, 0)
    return (*(round(c / alpha) for c in colour), round(255 * alpha / SAMPLES**2))  # type: ignore[return-value]


def png(size: int) -> bytes:
    rows = b"".join(b"\0" + bytes(v for x in range(size) for v in pixel(x, y, size)) for y in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def main() -> None:
    for size in (192, 512):
        (ICONS / f"icon-{size}.png").write_bytes(png(size))


if __name__ == "__main__":
    main()
