"""Public test helpers: sample catalogs in temporary folders, free ports, process checks, real servers."""

from quantdesk.testing.helpers import free_port, sample_catalog, subprocess_env, wait_for_http
from quantdesk.testing.services import PostgresServer, RedisServer, postgres_server, redis_server

__all__ = [
    "PostgresServer",
    "RedisServer",
    "free_port",
    "postgres_server",
    "redis_server",
    "sample_catalog",
    "subprocess_env",
    "wait_for_http",
]
