"""Named watchlists (ordered lists of instrument ids) kept in the platform's SQL store.

A trader's watchlists outlive the dashboard session and the node, so they live in the same
store as the trade history: a SQLite file under the catalog by default, PostgreSQL by URL.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable

from sqlalchemy import BigInteger, Column, Engine, String, Table, Text, delete, select

from quantdesk.errors import QuantDeskError
from quantdesk.store.database import METADATA, engine, translate_errors

NAME_LENGTH = 80
# SYMBOL.VENUE as Nautilus writes instrument ids (symbols may hold dots, dashes, slashes).
INSTRUMENT_PATTERN = re.compile(r"^\S+\.[A-Za-z0-9_]+$")

WATCHLISTS = Table(
    "watchlists",
    METADATA,
    Column("name", String(NAME_LENGTH), primary_key=True),
    Column("instruments", Text, nullable=False),  # a JSON list, in the order the trader put them
    Column("ts_updated", BigInteger, nullable=False),
)


class Watchlists:
    """Create, read, change and delete named watchlists.

    Parameters
    ----------
    url : str, optional
        SQLAlchemy URL of the store; default ``QUANTDESK_STORE_URL`` or ``<catalog>/quantdesk.sqlite``.
    known : iterable of str, optional
        The instrument ids a watchlist may hold (e.g. the catalog's and the node's); any
        well-formed id is accepted when None.

    Examples
    --------
    >>> lists = Watchlists(known=["AAPL.XNAS", "MSFT.XNAS"])  # doctest: +SKIP
    >>> lists.create("Tech", ["AAPL.XNAS"])  # doctest: +SKIP
    """

    def __init__(self, url: str | None = None, known: Iterable[str] | None = None) -> None:
        self._engine: Engine = engine(url)
        self.known = None if known is None else sorted(set(known))

    def names(self) -> list[str]:
        """Return the names of every watchlist, alphabetically."""
        query = select(WATCHLISTS.c.name).order_by(WATCHLISTS.c.name)
        with translate_errors(self._engine), self._engine.connect() as connection:
            return [name for (name,) in connection.execute(query)]

    def get(self, name: str) -> list[str]:
        """Return the instruments of watchlist ``name``, in order.

        Raises
        ------
        QuantDeskError
            When there is no such watchlist.
        """
        name = _checked_name(name)
        query = select(WATCHLISTS.c.instruments).where(WATCHLISTS.c.name == name)
        with translate_errors(self._engine), self._engine.connect() as connection:
            stored = connection.execute(query).scalar_one_or_none()
        if stored is None:
            raise QuantDeskError(f"No watchlist named {name!r}: the watchlists are {', '.join(self.names()) or 'none yet'}")
        return json.loads(stored)

    def create(self, name: str, instruments: Iterable[str] = ()) -> list[str]:
        """Create watchlist ``name`` holding ``instruments``; return them as stored.

        Raises
        ------
        QuantDeskError
            When the name is empty or taken, or an instrument is malformed or unknown.
        """
        name = _checked_name(name)
        if name in self.names():
            raise QuantDeskError(f"A watchlist named {name!r} exists already: pick another name or edit that one")
        return self._write(name, instruments, new=True)

    def save(self, name: str, instruments: Iterable[str]) -> list[str]:
        """Replace the instruments of the existing watchlist ``name``; return them as stored.

        Raises
        ------
        QuantDeskError
            When there is no such watchlist, or an instrument is malformed or unknown.
        """
        self.get(name)
        return self._write(_checked_name(name), instruments, new=False)

    def add(self, name: str, instrument_id: str) -> list[str]:
        """Append ``instrument_id`` to watchlist ``name`` (no-op when it is there); return the list."""
        current = self.get(name)
        return self.save(name, [*current, instrument_id])

    def remove(self, name: str, instrument_id: str) -> list[str]:
        """Take ``instrument_id`` off watchlist ``name``; return the list.

        Raises
        ------
        QuantDeskError
            When the watchlist does not hold it.
        """
        current = self.get(name)
        instrument_id = str(instrument_id).strip()
        if instrument_id not in current:
            raise QuantDeskError(f"Watchlist {name!r} does not hold {instrument_id!r}: it holds {', '.join(current) or 'nothing'}")
        return self.save(name, [i for i in current if i != instrument_id])

    def delete(self, name: str) -> None:
        """Delete watchlist ``name``.

        Raises
        ------
        QuantDeskError
            When there is no such watchlist.
        """
        self.get(name)
        with translate_errors(self._engine), self._engine.begin() as connection:
            connection.execute(delete(WATCHLISTS).where(WATCHLISTS.c.name == _checked_name(name)))

    def _write(self, name: str, instruments: Iterable[str], new: bool) -> list[str]:
        checked = self._checked_instruments(instruments)
        row = {"name": name, "instruments": json.dumps(checked), "ts_updated": time.time_ns()}
        with translate_errors(self._engine), self._engine.begin() as connection:
            if new:
                connection.execute(WATCHLISTS.insert(), row)
            else:
                connection.execute(WATCHLISTS.update().where(WATCHLISTS.c.name == name), row)
        return checked

    def _checked_instruments(self, instruments: Iterable[str]) -> list[str]:
        if isinstance(instruments, str):  # one id, not its characters
            instruments = [instruments]
        checked: list[str] = []
        for raw in instruments:
            instrument_id = str(raw).strip()
            if not INSTRUMENT_PATTERN.match(instrument_id):
                raise QuantDeskError(f"Instrument {raw!r} is not an instrument id: write SYMBOL.VENUE, e.g. AAPL.XNAS")
            if self.known is not None and instrument_id not in self.known:
                raise QuantDeskError(
                    f"Unknown instrument {instrument_id!r}: choose from {', '.join(self.known) or 'nothing (the catalog is empty)'}"
                )
            if instrument_id not in checked:
                checked.append(instrument_id)
        return checked


def _checked_name(name: object) -> str:
    text = str(name or "").strip()
    if not text:
        raise QuantDeskError("A watchlist needs a name: type one, e.g. 'Tech'")
    if len(text) > NAME_LENGTH:
        raise QuantDeskError(f"Watchlist name {text[:20]!r}... is {len(text)} characters long: use at most {NAME_LENGTH}")
    return text
