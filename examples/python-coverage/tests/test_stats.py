import math

import pytest

from mathkit.stats import mean, median, stdev, variance


def test_mean_of_integers():
    assert mean([1, 2, 3, 4]) == 2.5


def test_mean_accepts_any_iterable():
    assert mean(x for x in (10, 20, 30)) == 20


def test_median_odd_and_even():
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 3, 2]) == 2.5


def test_population_variance_and_stdev():
    data = [2, 4, 4, 4, 5, 5, 7, 9]
    assert variance(data) == 4.0
    assert stdev(data) == 2.0


def test_sample_variance_uses_bessel_correction():
    assert math.isclose(variance([1, 2, 3, 4], sample=True), 5 / 3)


def test_sample_variance_needs_two_points():
    with pytest.raises(ValueError):
        variance([1.0], sample=True)


@pytest.mark.parametrize("func", [mean, median, variance, stdev])
def test_empty_input_is_rejected(func):
    with pytest.raises(ValueError):
        func([])
