"""Lessons the tests write for themselves: small inline curricula of Linux boxes."""

from __future__ import annotations

from pathlib import Path

import yaml


def chain_lesson(folder: Path, slug: str, boxes: int) -> Path:
    """A chain of `boxes` Linux boxes, each linked to the next."""
    lesson = {
        "name": f"A Chain of {boxes}",
        "slug": slug,
        "category": "fundamentals",
        "tier": "local",
        "shortDescription": "Linux boxes in a row.",
        "endpoints": [{"name": f"box{i}", "image": "utility"} for i in range(boxes)],
        "connections": [{"a": f"box{i}", "b": f"box{i + 1}"} for i in range(boxes - 1)],
        "stages": [{"description": "Look around", "guideType": "markdown"}],
    }
    path = folder / slug / "lesson.meta.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(lesson))
    return path
