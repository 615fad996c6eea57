"""When a city's 备案人数 for a week is unusually high against its own earlier weeks (the one home of the rule).

A figure is an outlier when the city has at least ``MIN_HISTORY`` earlier weeks and the figure is either more
than ``RATIO_LIMIT`` times their median, or its modified z-score (Iglewicz and Hoaglin: 0.6745 * (x - median)
/ MAD) is above ``Z_LIMIT``. When the MAD is 0 (most weeks alike) the mean absolute deviation stands in
(z = (x - median) / (1.253314 * MeanAD)); when both are 0 only the ratio can flag. Only high figures are
flagged, and a figure of 0 (a report of zero) never is. Pure: no store, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import median

MIN_HISTORY = 4
Z_LIMIT = 3.5
RATIO_LIMIT = 10


def modified_z(value: float, history: Sequence[float]) -> float | None:
    """The modified z-score of ``value`` against ``history``, or None when the spread is 0."""
    centre = median(history)
    mad = median(abs(x - centre) for x in history)
    if mad > 0:
        return 0.6745 * (value - centre) / mad
    mean_ad = sum(abs(x - centre) for x in history) / len(history)
    if mean_ad > 0:
        return (value - centre) / (1.253314 * mean_ad)
    return None


def is_outlier(value: int | None, history: Sequence[int]) -> bool:
    """Whether ``value`` (a week's people) is unusually high for a city whose earlier weeks were ``history``."""
    if not value or value <= 0 or len(history) < MIN_HISTORY:
        return False
    centre = median(history)
    if value <= centre:
        return False
    if centre > 0 and value > RATIO_LIMIT * centre:
        return True
    z = modified_z(value, history)
    return z is not None and z > Z_LIMIT
