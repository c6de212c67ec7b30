"""Text colour for a banner's background: black or white, whichever contrasts more (WCAG 2)."""

from __future__ import annotations

BLACK, WHITE = "#000000", "#ffffff"


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(color: str) -> float:
    """WCAG relative luminance of "#rrggbb"."""
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def ratio(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_color(background: str) -> str:
    """Black or white on `background`; the better of the two is always at least 4.58:1, so
    banner text meets WCAG AA (4.5:1) on any colour an owner picks."""
    return BLACK if ratio(background, BLACK) >= ratio(background, WHITE) else WHITE
