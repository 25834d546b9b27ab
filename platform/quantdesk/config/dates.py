"""How users write period bounds: ISO 8601, UTC unless a zone is given, a bare end date meaning that whole day."""

from __future__ import annotations

import pandas as pd

from quantdesk.errors import QuantDeskError


def utc_bound(raw: str | pd.Timestamp, name: str = "start") -> pd.Timestamp:
    """Return ``raw`` as a UTC timestamp; for ``name == "end"`` a bare date extends to that day's last instant.

    Raises
    ------
    QuantDeskError
        When ``raw`` is not a date, naming the bound and the value.
    """
    try:
        stamp = pd.Timestamp(raw)
    except (ValueError, TypeError):
        raise QuantDeskError(f"Bad {name} date {raw!r}: write it as ISO 8601, e.g. 2010-01-31") from None
    if stamp is pd.NaT:
        raise QuantDeskError(f"Bad {name} date {raw!r}: write it as ISO 8601, e.g. 2010-01-31")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    if name == "end" and isinstance(raw, str) and ":" not in raw:
        # A bare date means the whole day: include that day's closing bar.
        stamp = stamp + pd.Timedelta(days=1) - pd.Timedelta(1, unit="ns")
    return stamp
