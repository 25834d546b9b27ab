"""Contract search and account summary from an Interactive Brokers Gateway, through ib_async.

Only used when a gateway is configured (``QUANTDESK_IB_HOST``). Each request connects with a
client id derived from this process (so it never collides with a node's clients on the same
gateway), asks, and disconnects; it runs on a thread of its own with its own event loop,
because ib_async must not share the loop of a Panel session or a Jupyter kernel.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pandas as pd

from quantdesk.config.settings import settings
from quantdesk.errors import QuantDeskError
from quantdesk.live.config import InteractiveBrokersConfig
from quantdesk.live.interactive_brokers import check_gateway, client_id

CONNECT_SECONDS = 5.0
# Client ids above a node's (offsets 0 and 1) for the dashboard's short-lived queries.
CLIENT_ID_OFFSET = 2
CONTRACT_COLUMNS = ["symbol", "security_type", "exchange", "primary_exchange", "currency", "contract_id", "description"]
ACCOUNT_COLUMNS = ["account", "tag", "value", "currency"]


def gateway_config() -> InteractiveBrokersConfig | None:
    """Return the configured gateway's address, or None when ``QUANTDESK_IB_HOST`` is unset."""
    config = settings()
    if not config.ib_host:
        return None
    return InteractiveBrokersConfig(host=config.ib_host, port=config.ib_port, connect_timeout=CONNECT_SECONDS)


def gateway_status() -> tuple[bool, str]:
    """Return whether a configured gateway answers, and a sentence a trader can act on."""
    config = gateway_config()
    if config is None:
        return False, (
            "No Interactive Brokers Gateway configured: set QUANTDESK_IB_HOST (and QUANTDESK_IB_PORT, default 4002, "
            "the Gateway's paper port) to search IB contracts and see the IB account here."
        )
    try:
        check_gateway(config)
    except QuantDeskError as error:
        return False, str(error)
    return True, f"Interactive Brokers Gateway at {config.host}:{config.port} is answering."


def _with_gateway(request: Callable[[Any], Awaitable[Any]]) -> Any:
    """Connect to the gateway, await ``request(ib)``, disconnect; on a thread with its own event loop."""
    config = gateway_config()
    if config is None:
        raise QuantDeskError(gateway_status()[1])
    check_gateway(config)
    outcome: dict[str, Any] = {}

    async def run() -> Any:
        from ib_async import IB

        ib = IB()
        try:
            await ib.connectAsync(config.host, config.port, clientId=client_id(config, offset=CLIENT_ID_OFFSET),
                                  timeout=CONNECT_SECONDS, readonly=True)
            return await request(ib)
        finally:
            ib.disconnect()

    def work() -> None:
        try:
            outcome["value"] = asyncio.run(run())
        except Exception as error:  # reported on the caller's thread
            outcome["error"] = error

    thread = threading.Thread(target=work, name="quantdesk-ib-query", daemon=True)
    thread.start()
    thread.join(4 * CONNECT_SECONDS)
    if thread.is_alive() or "error" in outcome:
        reason = outcome.get("error", "no answer in time")
        raise QuantDeskError(
            f"The Interactive Brokers Gateway at {config.host}:{config.port} did not answer the request ({reason}): "
            "check that its API is enabled and accepts this client"
        )
    return outcome["value"]


def search_contracts(pattern: str) -> pd.DataFrame:
    """Return the IB contracts whose symbol or name matches ``pattern``.

    Raises
    ------
    QuantDeskError
        When the pattern is empty, no gateway is configured or it does not answer.
    """
    pattern = str(pattern or "").strip()
    if not pattern:
        raise QuantDeskError("Type part of a symbol or company name to search, e.g. AAPL")
    found = _with_gateway(lambda ib: ib.reqMatchingSymbolsAsync(pattern)) or []
    rows = [{"symbol": d.contract.symbol, "security_type": d.contract.secType, "exchange": d.contract.exchange,
             "primary_exchange": d.contract.primaryExchange, "currency": d.contract.currency,
             "contract_id": d.contract.conId, "description": getattr(d.contract, "description", "")} for d in found]
    return pd.DataFrame(rows, columns=CONTRACT_COLUMNS)


def account_summary() -> pd.DataFrame:
    """Return the gateway's account summary (net liquidation, cash, buying power ... per account).

    Raises
    ------
    QuantDeskError
        When no gateway is configured or it does not answer.
    """
    values = _with_gateway(lambda ib: ib.accountSummaryAsync())
    rows = [{"account": v.account, "tag": v.tag, "value": v.value, "currency": v.currency} for v in values]
    return pd.DataFrame(rows, columns=ACCOUNT_COLUMNS)
