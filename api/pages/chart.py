"""The comparison chart as inline SVG: three labelled horizontal bars. Pure.

Horizontal bars read on a narrow phone (labels sit above their bars, values at their ends) and
print in black and white: every bar is named in words, so colour is never the only cue (WCAG
1.4.1), and each colour has at least 3:1 contrast with the white page (1.4.11). The template
draws the SVG from these numbers; the page carries the same figures as a table.
"""

from __future__ import annotations

from dataclasses import dataclass

WIDTH = 320
"""The viewBox's width: one SVG unit is one CSS pixel on a small phone, and it scales up."""
_LABEL_HEIGHT = 20
_BAR_HEIGHT = 22
_GAP = 12
_VALUE_ROOM = 90
"""Room at the right for the value written after the longest bar."""


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    css_class: str
    label_y: float
    bar_y: float
    width: float
    height: float
    text: str
    """The value in words, written at the bar's end."""
    text_x: float


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    bars: tuple[Bar, ...]


def kwh(value: float) -> str:
    return f"{value:,.0f} kWh"


def comparison_chart(*, usage: float, average: float, efficient: float) -> Chart:
    """Your home, similar homes' average and the efficient similar homes, to one scale."""
    rows = (
        ("Your home", usage, "bar-you"),
        ("Similar homes, on average", average, "bar-average"),
        ("Efficient similar homes", efficient, "bar-efficient"),
    )
    largest = max(max(v for _, v, _ in rows), 1e-9)
    span = WIDTH - _VALUE_ROOM
    bars = []
    y = 0.0
    for label, value, css in rows:
        width = max(span * max(value, 0.0) / largest, 2.0)  # a zero still shows as a sliver
        bars.append(
            Bar(
                label=label,
                value=value,
                css_class=css,
                label_y=y + 15,
                bar_y=y + _LABEL_HEIGHT,
                width=round(width, 1),
                height=_BAR_HEIGHT,
                text=kwh(value),
                text_x=round(width + 6, 1),
            )
        )
        y += _LABEL_HEIGHT + _BAR_HEIGHT + _GAP
    return Chart(WIDTH, int(y - _GAP + 4), tuple(bars))
