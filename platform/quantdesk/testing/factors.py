"""User-defined factors for tests and examples, addressed as ``quantdesk.testing.factors:<name>``."""

from __future__ import annotations

import numpy as np

from quantdesk.factors.registry import factor

CALLS = {"count": 0}  # how often counted_momentum ran in this process (laziness tests)


@factor(family="user", grid={"window": [5, 20]})
def window_return(data: dict[str, np.ndarray], window: int) -> np.ndarray:
    """Return the close-to-close return over ``window`` bars (NaN for the first ``window`` bars)."""
    close = data["close"]
    out = np.full_like(close, np.nan)
    out[window:] = close[window:] / close[:-window] - 1.0
    return out


def counted_momentum(data: dict[str, np.ndarray], window: int = 10) -> np.ndarray:
    """Return :func:`window_return`, counting the call in :data:`CALLS`."""
    CALLS["count"] += 1
    return window_return(data, window)


def broken(data: dict[str, np.ndarray]) -> np.ndarray:
    """Raise, as a factor with a bug does."""
    raise ZeroDivisionError("this factor is broken on purpose")
