"""Write the dashboards' JSON files, or say which differ from the code (the drift check)."""

from __future__ import annotations

from pathlib import Path

from dashboards import boards
from dashboards.render import dumps

JSON_DIR = Path(__file__).resolve().parent / "json"


def filename(uid: str) -> str:
    return f"{uid.removeprefix('civicpulse-')}.json"


def rendered() -> dict[str, str]:
    """File name → the JSON text the code makes now."""
    return {filename(b.uid): dumps(b) for b in boards()}


def write(directory: Path = JSON_DIR) -> list[str]:
    """Write every dashboard; remove files of dashboards that no longer exist. Returns what
    changed."""
    directory.mkdir(parents=True, exist_ok=True)
    wanted = rendered()
    changed = []
    for name, text in wanted.items():
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(name)
    for path in sorted(directory.glob("*.json")):
        if path.name not in wanted:
            path.unlink()
            changed.append(path.name)
    return changed


def drift(directory: Path = JSON_DIR) -> list[str]:
    """Files that differ from what the code makes (missing, stale or left over)."""
    wanted = rendered()
    found = {p.name: p.read_text(encoding="utf-8") for p in directory.glob("*.json")}
    return sorted(
        name for name in wanted.keys() | found.keys() if wanted.get(name) != found.get(name)
    )
