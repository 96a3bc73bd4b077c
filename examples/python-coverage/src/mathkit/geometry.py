"""Small plane-geometry helpers."""

from __future__ import annotations

import math
from typing import Sequence, Tuple

Point = Tuple[float, float]


def distance(a: Point, b: Point) -> float:
    """Return the Euclidean distance between points ``a`` and ``b``.

    >>> distance((0, 0), (3, 4))
    5.0
    """
    return math.hypot(b[0] - a[0], b[1] - a[1])


def circle_area(radius: float) -> float:
    """Return the area of a circle with the given ``radius``.

    >>> round(circle_area(1), 5)
    3.14159
    """
    if radius < 0:
        raise ValueError("radius must be non-negative")
    return math.pi * radius**2


def triangle_area(a: float, b: float, c: float) -> float:
    """Return the area of a triangle from its side lengths (Heron's formula).

    >>> triangle_area(3, 4, 5)
    6.0
    """
    sides = sorted((a, b, c))
    if sides[0] <= 0:
        raise ValueError("side lengths must be positive")
    if sides[0] + sides[1] <= sides[2]:
        raise ValueError("side lengths violate the triangle inequality")
    s = (a + b + c) / 2
    return math.sqrt(s * (s - a) * (s - b) * (s - c))


def polygon_area(vertices: Sequence[Point]) -> float:
    """Return the area of a simple polygon (shoelace formula).

    Vertices may be listed clockwise or counter-clockwise.

    >>> polygon_area([(0, 0), (4, 0), (4, 3), (0, 3)])
    12.0
    """
    if len(vertices) < 3:
        raise ValueError("a polygon needs at least three vertices")
    twice_area = 0.0
    for i, (x1, y1) in enumerate(vertices):
        x2, y2 = vertices[(i + 1) % len(vertices)]
        twice_area += x1 * y2 - x2 * y1
    return abs(twice_area) / 2
