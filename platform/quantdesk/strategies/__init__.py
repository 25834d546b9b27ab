"""Strategies as ``<Name>Config`` + ``<Name>`` pairs, addressed by ``module:Class`` path."""
