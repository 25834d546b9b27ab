"""Public test helpers: sample catalogs in temporary folders, free ports, process checks."""

from quantdesk.testing.helpers import free_port, sample_catalog, subprocess_env, wait_for_http

__all__ = ["free_port", "sample_catalog", "subprocess_env", "wait_for_http"]
