"""The built-in factor library: importing this package registers every family.

Families: :mod:`~quantdesk.factors.library.momentum` (momentum and reversal),
:mod:`~quantdesk.factors.library.volatility`, :mod:`~quantdesk.factors.library.liquidity`
(volume and liquidity), :mod:`~quantdesk.factors.library.technical` (technical indicators),
:mod:`~quantdesk.factors.library.cross_asset` (beta and correlation to the market and to the
cross-sectional mean) and :mod:`~quantdesk.factors.library.macro` (sensitivity to external
series). Every factor follows :mod:`quantdesk.factors.registry`'s contract and the missing-value
rule of :mod:`quantdesk.factors.kernels`.
"""

from quantdesk.factors.library import cross_asset, liquidity, macro, momentum, technical, volatility

__all__ = ["cross_asset", "liquidity", "macro", "momentum", "technical", "volatility"]
