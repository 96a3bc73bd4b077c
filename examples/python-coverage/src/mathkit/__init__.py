"""mathkit: a tiny statistics and geometry toolkit.

This package exists to give rtask's ``python-coverage`` example something
real to test and measure.
"""

from mathkit.geometry import (
    circle_area,
    distance,
    polygon_area,
    triangle_area,
)
from mathkit.stats import mean, median, stdev, variance

__all__ = [
    "circle_area",
    "distance",
    "mean",
    "median",
    "polygon_area",
    "stdev",
    "triangle_area",
    "variance",
]

__version__ = "0.1.0"
