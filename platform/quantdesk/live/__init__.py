"""The live side: a Nautilus TradingNode on replayed catalog data with paper execution, or on Interactive Brokers."""

from quantdesk.live.config import InteractiveBrokersConfig, NodeConfig, ReplayConfig, paper_node_config
from quantdesk.live.node import LiveNode, NodeHealth
from quantdesk.live.orders import OrderRequest

__all__ = ["InteractiveBrokersConfig", "LiveNode", "NodeConfig", "NodeHealth", "OrderRequest", "ReplayConfig",
           "paper_node_config"]
