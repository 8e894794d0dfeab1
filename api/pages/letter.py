"""The letter's text as the blocks of a web page. Pure.

``delivery.nudges.nudge_message`` writes a report once, as plain text; the resident's page shows
that very text, cut into blocks (the title, paragraphs, titled lists), so that the page and the
letter can never say different things. The page adds its chart and table after the paragraph
with the figures, and sections of its own (history, settings) that the letter replaces with a
telephone number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FIGURES_START = "Your home used"
"""The paragraph the chart follows."""


@dataclass(frozen=True, slots=True)
class Block:
    kind: Literal["paragraph", "list"]
    text: str
    """A paragraph's text, or a list's title."""
    items: tuple[str, ...] = ()

    @property
    def has_figures(self) -> bool:
        return self.kind == "paragraph" and self.text.startswith(FIGURES_START)


@dataclass(frozen=True, slots=True)
class Letter:
    title: str
    blocks: tuple[Block, ...]


def parse(text: str) -> Letter:
    """Blank lines separate blocks; a block whose first line ends with a colon and whose other
    lines start with ``- `` is a list; other lines of a block join into one paragraph."""
    paragraphs = [p.splitlines() for p in text.strip().split("\n\n") if p.strip()]
    if not paragraphs:
        raise ValueError("an empty letter")
    title, *rest = paragraphs
    blocks = []
    for lines in [title[1:], *rest]:
        if not lines:
            continue
        head, *tail = lines
        if head.endswith(":") and tail and all(line.startswith("- ") for line in tail):
            blocks.append(Block("list", head, tuple(line[2:] for line in tail)))
        else:
            blocks.append(Block("paragraph", " ".join(line.strip() for line in lines)))
    return Letter(title[0], tuple(blocks))
