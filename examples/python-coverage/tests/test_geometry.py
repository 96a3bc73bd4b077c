import math

import pytest

import mathkit
from mathkit.geometry import circle_area, distance, polygon_area, triangle_area


def test_distance_345():
    assert distance((0, 0), (3, 4)) == 5.0


def test_circle_area():
    assert math.isclose(circle_area(2), 4 * math.pi)
    assert circle_area(0) == 0


def test_circle_area_rejects_negative_radius():
    with pytest.raises(ValueError):
        circle_area(-1)


def test_triangle_area_right_triangle():
    assert triangle_area(3, 4, 5) == 6.0


@pytest.mark.parametrize("sides", [(0, 1, 1), (1, 2, 3), (1, 1, 5)])
def test_triangle_area_rejects_invalid_sides(sides):
    with pytest.raises(ValueError):
        triangle_area(*sides)


def test_polygon_area_orientation_independent():
    square = [(0, 0), (4, 0), (4, 3), (0, 3)]
    assert polygon_area(square) == 12.0
    assert polygon_area(list(reversed(square))) == 12.0


def test_polygon_area_needs_three_vertices():
    with pytest.raises(ValueError):
        polygon_area([(0, 0), (1, 1)])


def test_package_reexports_public_api():
    assert mathkit.mean is not None
    assert set(mathkit.__all__) <= set(dir(mathkit))
