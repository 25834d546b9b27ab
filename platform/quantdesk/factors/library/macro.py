"""Macro sensitivity: rolling beta and correlation of asset returns to changes in an external series.

External series (interest rates, inflation, VIX, oil, ...) enter the panel through
``load_panel(..., external={"rates": series, ...})`` as levels, one value per bar, carried
forward between prints. A factor names its series with the ``series`` parameter and reads
``data[series]``; the default grid tries ``rates``, ``inflation`` and ``vix``, and a variant
whose series the panel lacks raises :class:`~quantdesk.errors.QuantDeskError` (the pipeline
then leaves it out and says why).

The regressor is the series' change from one bar to the next: ``difference`` (level change,
right for rates in percent and for VIX points) or ``log_difference`` (relative change, for
price-like series such as oil or a CPI index). A monthly series carried forward changes on
one bar a month, so give it long windows; a window where it does not change at all is NaN.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from quantdesk.errors import QuantDeskError
from quantdesk.factors.kernels import BETA, CORRELATION, check_window, column, log, rolling_regression
from quantdesk.factors.registry import factor

FAMILY = "macro"
SERIES = ("rates", "inflation", "vix")
CHANGES = ("difference", "log_difference")


def _changes(data: Mapping[str, np.ndarray], series: str, change: str, name: str, steps: int) -> np.ndarray:
    """Return the bar-to-bar change of ``data[series]`` as a (time, 1) column."""
    if series not in data:
        held = ", ".join(sorted(data)) or "nothing"
        raise QuantDeskError(
            f"Factor {name!r} needs the external series {series!r}, which the data does not hold (it has {held}): "
            f"load the panel with external={{{series!r}: <pandas Series>}} or pick another series"
        )
    if change not in CHANGES:
        raise QuantDeskError(f"Factor {name!r}: change={change!r} is not one of {', '.join(CHANGES)}")
    level = np.ascontiguousarray(data[series], dtype=np.float64)
    if level.ndim != 1 or level.shape[0] != steps:
        raise QuantDeskError(
            f"Factor {name!r}: external series {series!r} must hold one value per bar, "
            f"shape ({steps},), not {level.shape}"
        )
    if change == "log_difference":
        level = log(level)
    out = np.full(steps, np.nan)
    out[1:] = level[1:] - level[:-1]
    return out.reshape(steps, 1)


@factor(family=FAMILY, grid={"window": (63, 126, 252, 504), "series": SERIES}, inputs=("returns",))
def macro_beta(
    data: Mapping[str, np.ndarray], window: int = 126, series: str = "rates", change: str = "difference"
) -> np.ndarray:
    """Return the rolling beta of the asset's returns on the bar-to-bar change of an external series.

    ``cov(r, dx) / var(dx)`` over the last ``window`` bars: the return per unit change of the
    series (per percentage point of rates, per VIX point, ...).

    Parameters
    ----------
    data : mapping
        Needs ``returns`` (time, asset) and ``data[series]`` (time,).
    window : int
        Bars in the regression; at least 2.
    series : str
        Name of the external series in ``data``.
    change : {"difference", "log_difference"}
        How the series' change is measured.

    Raises
    ------
    QuantDeskError
        When ``data`` has no ``series``.
    """
    window = check_window("macro_beta", "window", window, minimum=2)
    returns = column(data, "returns", "macro_beta")
    return rolling_regression(returns, _changes(data, series, change, "macro_beta", returns.shape[0]), window, BETA)


@factor(family=FAMILY, grid={"window": (63, 126, 252, 504), "series": SERIES}, inputs=("returns",))
def macro_correlation(
    data: Mapping[str, np.ndarray], window: int = 126, series: str = "rates", change: str = "difference"
) -> np.ndarray:
    """Return the rolling correlation of the asset's returns with the bar-to-bar change of an external series.

    Parameters
    ----------
    data : mapping
        Needs ``returns`` (time, asset) and ``data[series]`` (time,).
    window : int
        Bars in the window; at least 2.
    series : str
        Name of the external series in ``data``.
    change : {"difference", "log_difference"}
        How the series' change is measured.

    Raises
    ------
    QuantDeskError
        When ``data`` has no ``series``.
    """
    window = check_window("macro_correlation", "window", window, minimum=2)
    returns = column(data, "returns", "macro_correlation")
    changes = _changes(data, series, change, "macro_correlation", returns.shape[0])
    return rolling_regression(returns, changes, window, CORRELATION)
