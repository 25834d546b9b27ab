"""The Dask client: a LocalCluster by default, an existing scheduler when configured."""

from quantdesk.compute.cluster import dashboard_link, get_client, start_local_cluster

__all__ = ["dashboard_link", "get_client", "start_local_cluster"]
