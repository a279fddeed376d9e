"""A stand-in for the Linode API (LKE part), for the provider-linode end-to-end tests.

The real linode/linode provider binary talks to it over plain HTTP on loopback (the
provider's `url` argument accepts `http://`). Written from Linode's public API reference
(v4: LKE clusters, node pools, nodes, kubeconfig, API endpoints, account events; paging,
X-Filter, error format) and from what the provider and linodego call. See README.md.
"""

from .server import RemoteStandIn, StandIn, StandInError

__all__ = ["RemoteStandIn", "StandIn", "StandInError"]
