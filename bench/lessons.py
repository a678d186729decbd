"""Lessons of a given size for the benchmarks: N Linux endpoints wired in a ring."""

from __future__ import annotations

from lessons.model import Lesson

IMAGE = "registry.example/bench/linux:1"


def ring_lesson(endpoints: int) -> Lesson:
    """`endpoints` hosts, each ssh on 22, each linked to the next (a ring from three on)."""
    names = [f"host{i}" for i in range(1, endpoints + 1)]
    links = [(names[i], names[(i + 1) % endpoints]) for i in range(endpoints)]
    if endpoints == 2:
        links = links[:1]
    elif endpoints == 1:
        links = []
    return Lesson.model_validate(
        {
            "name": f"Bench ring of {endpoints}",
            "slug": f"bench-ring-{endpoints}",
            "endpoints": [
                {
                    "name": name,
                    "image": IMAGE,
                    "presentations": [{"name": "cli", "port": 22, "type": "ssh"}],
                }
                for name in names
            ],
            "connections": [{"a": a, "b": b} for a, b in links],
        }
    )
