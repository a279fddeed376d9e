"""Acting on the Linode API stand-in as someone other than the controller."""

from __future__ import annotations

import json
import urllib.request

from tests.linode_standin import StandIn


def change_behind_our_back(api: StandIn, domain_id: int, body: dict) -> None:
    """What a person with the token would do: a PUT to the Linode API."""
    request = urllib.request.Request(
        f"{api.url}/v4/domains/{domain_id}", data=json.dumps(body).encode(), method="PUT"
    )
    request.add_header("Authorization", f"Bearer {api.token}")
    request.add_header("Content-Type", "application/json")
    urllib.request.urlopen(request, timeout=20).close()
