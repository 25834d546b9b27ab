"""Interactive Brokers mode: NautilusTrader's own IB adapter, with a gateway check that fails fast.

The adapter keeps its connection alive itself (it reconnects with backoff when the gateway
drops); what this module adds is the check before anything is built, so a node pointed at a
gateway that is not running says so in a second instead of timing out minutes later, and a
client id chosen per process so several nodes (and the dashboard's ib_async panel) can connect
to one gateway.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

from quantdesk.errors import QuantDeskError
from quantdesk.live.config import InteractiveBrokersConfig

if TYPE_CHECKING:
    from nautilus_trader.live.node import TradingNode

    from quantdesk.live.config import NodeConfig

IB_CLIENT = "IB"


def check_gateway(config: InteractiveBrokersConfig) -> None:
    """Raise a clear error unless something accepts connections at the gateway's host and port."""
    try:
        with socket.create_connection((config.host, config.port), timeout=config.connect_timeout):
            return
    except OSError as error:
        raise QuantDeskError(
            f"No Interactive Brokers Gateway answers at {config.host}:{config.port} ({error.strerror or error}): "
            "start IB Gateway or TWS with the API enabled on that port (4002 is the Gateway's paper port), "
            "or run the node with data: replay and execution: sandbox"
        ) from None


def client_id(config: InteractiveBrokersConfig, offset: int = 0) -> int:
    """Return the configured API client id, or one derived from this process id (plus ``offset``)."""
    if config.client_id is not None:
        return config.client_id + offset
    return 1 + (os.getpid() * 7 + offset) % 30_000


def client_configs(config: NodeConfig) -> tuple[dict, dict]:
    """Return the node's IB data and execution client configs (empty where the node uses replay/sandbox)."""
    from nautilus_trader.adapters.interactive_brokers.config import (
        InteractiveBrokersDataClientConfig,
        InteractiveBrokersExecClientConfig,
        InteractiveBrokersInstrumentProviderConfig,
    )

    ib = config.ib
    provider = InteractiveBrokersInstrumentProviderConfig(load_ids=frozenset(ib.instrument_ids))
    data, execution = {}, {}
    if config.data == "ib":
        data[IB_CLIENT] = InteractiveBrokersDataClientConfig(
            ibg_host=ib.host, ibg_port=ib.port, ibg_client_id=client_id(ib), instrument_provider=provider,
            connection_timeout=int(max(ib.connect_timeout, 1)),
        )
    if config.execution == "ib":
        execution[IB_CLIENT] = InteractiveBrokersExecClientConfig(
            ibg_host=ib.host, ibg_port=ib.port, ibg_client_id=client_id(ib, offset=1), account_id=ib.account_id,
            instrument_provider=provider, connection_timeout=int(max(ib.connect_timeout, 1)),
        )
    return data, execution


def register_factories(node: TradingNode, config: NodeConfig) -> None:
    """Add the adapter's client factories to ``node`` for the sides that use IB."""
    from nautilus_trader.adapters.interactive_brokers.factories import (
        InteractiveBrokersLiveDataClientFactory,
        InteractiveBrokersLiveExecClientFactory,
    )

    if config.data == "ib":
        node.add_data_client_factory(IB_CLIENT, InteractiveBrokersLiveDataClientFactory)
    if config.execution == "ib":
        node.add_exec_client_factory(IB_CLIENT, InteractiveBrokersLiveExecClientFactory)
