"""SVG drawn on the server (pure): trend sparklines and README badges. No JavaScript,
no fonts to load; every text is escaped."""

from __future__ import annotations

from html import escape

COLORS = {
    "pass": "#2da44e",
    "known": "#2da44e",
    "fail": "#cf222e",
    "infra": "#9a6700",
    "running": "#0969da",
    "missing": "#8c959f",
}


def sparkline(values: list[float | None], width: int = 100, height: int = 20) -> str:
    """Pass rates (0..1, oldest first) as a line; gaps (None) are left out; the last
    point is marked."""
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    if not points:
        return (
            f'<svg class="spark" width="{width}" height="{height}" role="img" '
            f'aria-label="no trend"></svg>'
        )
    n = max(len(values) - 1, 1)
    pad = 2

    def xy(i: int, v: float) -> tuple[float, float]:
        return pad + i * (width - 2 * pad) / n, pad + (1 - v) * (height - 2 * pad)

    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(i, v) for i, v in points))
    last_x, last_y = xy(*points[-1])
    label = f"pass rate of the last {len(values)} runs: " + ", ".join(
        "-" if v is None else f"{v:.0%}" for v in values
    )
    return (
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(label)}"><title>{escape(label)}</title>'
        f'<polyline fill="none" stroke="#57606a" stroke-width="1.2" points="{coords}"/>'
        f'<circle cx="{last_x:.1f}" cy="{last_y:.1f}" r="2" fill="#0969da"/></svg>'
    )


def _text_width(text: str) -> int:
    return 7 * len(text) + 10  # close enough for Verdana 11px without measuring


def badge(label: str, message: str, state: str) -> str:
    """A shields-style badge: ``label | message``, coloured by ``state``."""
    lw, mw = _text_width(label), _text_width(message)
    w = lw + mw
    color = COLORS.get(state, COLORS["missing"])
    label_e, message_e = escape(label), escape(message)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" '
        f'aria-label="{label_e}: {message_e}"><title>{label_e}: {message_e}</title>'
        f'<rect width="{lw}" height="20" fill="#555"/>'
        f'<rect x="{lw}" width="{mw}" height="20" fill="{color}"/>'
        f'<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" '
        f'font-size="11"><text x="{lw / 2}" y="14">{label_e}</text>'
        f'<text x="{lw + mw / 2}" y="14">{message_e}</text></g></svg>'
    )
