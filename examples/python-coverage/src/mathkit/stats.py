"""Descriptive statistics over sequences of numbers."""

from __future__ import annotations

import math
from typing import Iterable, List


def _as_list(data: Iterable[float]) -> List[float]:
    """Materialise ``data`` into a list, rejecting empty input."""
    values = list(data)
    if not values:
        raise ValueError("at least one data point is required")
    return values


def mean(data: Iterable[float]) -> float:
    """Return the arithmetic mean of ``data``.

    >>> mean([1, 2, 3, 4])
    2.5
    """
    values = _as_list(data)
    return sum(values) / len(values)


def median(data: Iterable[float]) -> float:
    """Return the median (middle value) of ``data``.

    For an even number of points the mean of the two middle values is used.

    >>> median([3, 1, 2])
    2
    >>> median([4, 1, 3, 2])
    2.5
    """
    values = sorted(_as_list(data))
    n = len(values)
    mid = n // 2
    if n % 2 == 1:
        return values[mid]
    return (values[mid - 1] + values[mid]) / 2


def variance(data: Iterable[float], *, sample: bool = False) -> float:
    """Return the variance of ``data``.

    By default this is the population variance (divide by ``n``).  With
    ``sample=True`` Bessel's correction is applied (divide by ``n - 1``),
    which needs at least two data points.

    >>> variance([2, 4, 4, 4, 5, 5, 7, 9])
    4.0
    """
    values = _as_list(data)
    n = len(values)
    if sample and n < 2:
        raise ValueError("sample variance requires at least two data points")
    mu = sum(values) / n
    squared_deviations = sum((x - mu) ** 2 for x in values)
    return squared_deviations / (n - 1 if sample else n)


def stdev(data: Iterable[float], *, sample: bool = False) -> float:
    """Return the standard deviation of ``data`` (square root of the variance).

    >>> stdev([2, 4, 4, 4, 5, 5, 7, 9])
    2.0
    """
    return math.sqrt(variance(data, sample=sample))
