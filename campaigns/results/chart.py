"""The results chart drawn as SVG on the server: no script library, works offline.

Four series (opens and clicks by people, and by machines) as lines with their own dash pattern
and point marker, so they read without colour; every point carries a <title> with its value.
"""

from dataclasses import dataclass
from itertools import accumulate

from django.utils import formats, timezone
from django.utils.html import escape
from django.utils.translation import gettext as _

from campaigns.results.figures import ChartPoint

WIDTH, HEIGHT = 900, 280
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 40


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    dash: str
    marker: str  # "circle", "square", "triangle" or "diamond"


def series() -> list[Series]:
    return [
        Series("opens", _("Opens"), "", "circle"),
        Series("clicks", _("Clicks"), "6 3", "square"),
        Series("machine_opens", _("Machine opens"), "2 3", "triangle"),
        Series("machine_clicks", _("Machine clicks"), "8 3 2 3", "diamond"),
    ]


def _marker(kind: str, x: float, y: float) -> str:
    if kind == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3"/>'
    if kind == "square":
        return f'<rect x="{x - 3:.1f}" y="{y - 3:.1f}" width="6" height="6"/>'
    if kind == "triangle":
        return f'<path d="M{x:.1f} {y - 4:.1f}L{x + 4:.1f} {y + 3:.1f}L{x - 4:.1f} {y + 3:.1f}Z"/>'
    corners = f"M{x:.1f} {y - 4:.1f}L{x + 4:.1f} {y:.1f}L{x:.1f} {y + 4:.1f}L{x - 4:.1f} {y:.1f}Z"
    return f'<path d="{corners}"/>'


def _label(point: ChartPoint, unit: str) -> str:
    local = timezone.localtime(point.start)
    return formats.date_format(
        local, "SHORT_DATETIME_FORMAT" if unit == "hour" else "SHORT_DATE_FORMAT"
    )


def values(points: list[ChartPoint], key: str, cumulative: bool) -> list[int]:
    raw = [getattr(point, key) for point in points]
    return list(accumulate(raw)) if cumulative else raw


def svg(points: list[ChartPoint], unit: str, cumulative: bool = False) -> str:
    """The chart of `points` as an SVG element (escaped; safe to mark safe)."""
    drawn = series()
    columns = {s.key: values(points, s.key, cumulative) for s in drawn}
    top = max([1, *(max(v, default=0) for v in columns.values())])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(points) - 1, 1)

    def x(i: int) -> float:
        return LEFT + i * step

    def y(v: int) -> float:
        return TOP + plot_h - plot_h * v / top

    title = _("Opens and clicks per %(unit)s") % {"unit": _("hour") if unit == "hour" else _("day")}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'class="results-chart" data-points="{len(points)}" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        '<rect width="100%" height="100%" fill="#fff"/>',
    ]
    for tick in range(5):
        value = round(top * tick / 4)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            f'stroke="#ddd"/><text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" '
            f'font-size="11" fill="#333">{value}</text>'
        )
    every = max(len(points) // 6, 1)
    for i, point in enumerate(points):
        if i % every == 0:
            # The first label starts at its point and the last ends there: none is cut off.
            anchor = "start" if i == 0 else "end" if i == len(points) - 1 else "middle"
            parts.append(
                f'<text x="{x(i):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="{anchor}" '
                f'font-size="11" fill="#333">{escape(_label(point, unit))}</text>'
            )
    colours = ("#205493", "#b35c00", "#6f7782", "#8a2be2")
    for s, colour in zip(drawn, colours, strict=True):
        data = columns[s.key]
        path = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(data))
        dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
        parts.append(
            f'<g class="series series-{s.key}" fill="{colour}"><polyline points="{path}" '
            f'fill="none" stroke="{colour}" stroke-width="2"{dash}/>'
        )
        for i, v in enumerate(data):
            label = f"{s.label}, {_label(points[i], unit)}: {v}"
            parts.append(
                f"<g class='point'><title>{escape(label)}</title>"
                f"{_marker(s.marker, x(i), y(v))}</g>"
            )
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def legend() -> str:
    """The legend: each series' line pattern and marker beside its name."""
    items = []
    colours = ("#205493", "#b35c00", "#6f7782", "#8a2be2")
    for s, colour in zip(series(), colours, strict=True):
        dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
        items.append(
            f'<li><svg width="40" height="12" aria-hidden="true"><line x1="0" x2="40" y1="6" '
            f'y2="6" stroke="{colour}" stroke-width="2"{dash}/><g fill="{colour}">'
            f"{_marker(s.marker, 20, 6)}</g></svg> {escape(s.label)}</li>"
        )
    return f'<ul class="results-legend">{"".join(items)}</ul>'


def weekly_bars(weeks: list, title: str, series_labels: tuple[str, str]) -> str:
    """Two bars a week (objects with `start`, `people_in`, `people_out`), side by side, each
    bar with a <title> giving its value; the same look as the results chart (an SVG element,
    escaped; safe to mark safe)."""
    fields = ("people_in", "people_out")
    colours = ("#205493", "#b35c00")
    top = max([1, *(getattr(week, f) for week in weeks for f in fields)])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(weeks), 1)
    bar = slot * 0.35

    def y(v: int) -> float:
        return TOP + plot_h - plot_h * v / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'class="results-chart weekly-chart" data-weeks="{len(weeks)}" '
        f'aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        '<rect width="100%" height="100%" fill="#fff"/>',
    ]
    for tick in range(5):
        value = round(top * tick / 4)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            f'stroke="#ddd"/><text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" '
            f'font-size="11" fill="#333">{value}</text>'
        )
    for i, week in enumerate(weeks):
        label = formats.date_format(week.start, "SHORT_DATE_FORMAT")
        centre = LEFT + slot * (i + 0.5)
        parts.append(
            f'<text x="{centre:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
            f'font-size="11" fill="#333">{escape(label)}</text>'
        )
        for n, (field, colour, name) in enumerate(zip(fields, colours, series_labels, strict=True)):
            value = getattr(week, field)
            x = centre - bar + n * bar
            hatch = ' stroke="#333" stroke-dasharray="3 2"' if n else ""
            parts.append(
                f'<g class="bar bar-{field}"><title>{escape(name)}, {escape(label)}: {value}'
                f'</title><rect x="{x:.1f}" y="{y(value):.1f}" width="{bar:.1f}" '
                f'height="{TOP + plot_h - y(value):.1f}" fill="{colour}"{hatch}/></g>'
            )
    parts.append("</svg>")
    return "".join(parts)


def weekly_legend(series_labels: tuple[str, str]) -> str:
    """The legend of weekly_bars: each bar's colour and pattern beside its name."""
    items = []
    for n, (colour, name) in enumerate(zip(("#205493", "#b35c00"), series_labels, strict=True)):
        hatch = ' stroke="#333" stroke-dasharray="3 2"' if n else ""
        items.append(
            f'<li><svg width="16" height="12" aria-hidden="true"><rect width="16" height="12" '
            f'fill="{colour}"{hatch}/></svg> {escape(name)}</li>'
        )
    return f'<ul class="results-legend">{"".join(items)}</ul>'
