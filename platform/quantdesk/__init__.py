"""QuantDesk: a research and trading platform built on NautilusTrader."""
__version__ = "0.1.0"
