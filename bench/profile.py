"""Summarise a py-spy collapsed-stack file: where a process spends its samples.

py-spy's ``raw`` format has one line per distinct stack, ``frame;frame;…;leaf <count>``, the first
frame naming the thread when ``--threads`` is given. The benchmark records with ``--gil``: only the
thread holding the GIL is sampled, so a function's share of the samples is its share of the
process's Python execution, the resource a single ingest process is bound by. Time in system
calls (which release the GIL) shows up in the per-thread CPU figures instead.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

_LINE_NUMBER = re.compile(r":\d+\)$")


@dataclass(slots=True)
class _Node:
    count: int = 0
    children: dict[str, _Node] = field(default_factory=dict)


def _function(frame: str) -> str:
    """``name (file.py:123)`` -> ``name (file.py)``: one entry per function, not per line."""
    return _LINE_NUMBER.sub(")", frame)


def _read(path: Path) -> tuple[_Node, Counter[str]]:
    """The call tree (thread at the root) and the samples per leaf function."""
    root, own = _Node(), Counter[str]()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_function(f) for f in stack.split(";")]
        if frames[0].startswith("thread"):
            frames[0] = frames[0].split(": ", 1)[-1]
        own[frames[-1]] += count
        node = root
        node.count += count
        for frame in frames:
            node = node.children.setdefault(frame, _Node())
            node.count += count
    return root, own


def _render(node: _Node, total: int, depth: int, min_share: float, out: list[str]) -> None:
    """Children above ``min_share``; a chain of single dominant callees is shown on one line."""
    for name, child in sorted(node.children.items(), key=lambda kv: -kv[1].count):
        if child.count / total < min_share:
            continue
        chain = [name]
        while len(child.children) and max(c.count for c in child.children.values()) == child.count:
            name, child = max(child.children.items(), key=lambda kv: kv[1].count)
            chain.append(name)
        label = chain[0] if len(chain) < 3 else f"{chain[0]} > … > {chain[-1]}"
        out.append(f"  {100 * child.count / total:5.1f}%  {'  ' * depth}{label}")
        _render(child, total, depth + 1, min_share, out)


def summarise(path: Path, top: int = 15, min_share: float = 0.02) -> str:
    """Samples by own time (leaf function) and a call tree of everything above ``min_share``."""
    root, own = _read(path)
    total = root.count
    if not total:
        return f"no samples in {path}"
    lines = [f"by own time (the function itself), % of {total} samples"]
    lines += [f"  {100 * c / total:5.1f}%  {name}" for name, c in own.most_common(top)]
    lines.append(
        f"call tree (inclusive), % of {total} samples, branches under {min_share:.0%} hidden"
    )
    _render(root, total, 0, min_share, lines)
    return "\n".join(lines)
