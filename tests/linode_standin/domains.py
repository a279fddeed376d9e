"""DNS domains (`/domains`): the cheap kind the side-by-side benchmark creates by the thousand.

What the provider's `linode_domain` calls: create (POST), read (GET by ID), update (PUT),
delete (DELETE); the list for completeness. Fields and rules from Linode's public API
reference (v4, Domains): `domain` is required and unique, `type` is `master` or `slave`,
a master needs `soa_email`, a slave at least one `master_ips`; `status` starts `active`;
the `*_sec` timings are 0 ("default") unless given. Records are not modelled.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web

DOMAIN_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
TYPES = ("master", "slave")
STATUSES = ("active", "disabled")
SECONDS = ("ttl_sec", "retry_sec", "expire_sec", "refresh_sec")
TEXT = ("group", "description", "soa_email")
LISTS = ("master_ips", "axfr_ips", "tags")

Errors = list[tuple[str, str | None]]


class Domains:
    """The domains of one account; handlers raise the API's own error type."""

    def __init__(self, api_error: Callable[..., Exception], base_id: int):
        self._error = api_error
        self.items: dict[int, dict] = {}
        self._ids = itertools.count(base_id)

    def add_routes(self, router: web.UrlDispatcher, prefix: str, body, listed, respond) -> None:
        """`body(request)` parses a JSON object, `listed(request, items)` pages a list and
        `respond(value)` answers JSON: the API's shared helpers, passed in."""

        async def list_domains(request: web.Request) -> web.Response:
            return listed(request, list(self.items.values()))

        async def create(request: web.Request) -> web.Response:
            return respond(self.create(await body(request)))

        async def get(request: web.Request) -> web.Response:
            return respond(self._domain(request))

        async def update(request: web.Request) -> web.Response:
            return respond(self.update(self._domain(request), await body(request)))

        async def delete(request: web.Request) -> web.Response:
            self.items.pop(self._domain(request)["id"])
            return respond({})

        router.add_get(prefix + "/domains", list_domains)
        router.add_post(prefix + "/domains", create)
        router.add_get(prefix + "/domains/{did}", get)
        router.add_put(prefix + "/domains/{did}", update)
        router.add_delete(prefix + "/domains/{did}", delete)

    def _domain(self, request: web.Request) -> dict:
        try:
            domain = self.items.get(int(request.match_info["did"]))
        except ValueError:
            domain = None
        if domain is None:
            raise self._error(404, ("Not found", None))
        return domain

    def create(self, body: dict) -> dict:
        errors = self._errors(body, creating=True)
        if errors:
            raise self._error(400, *errors)
        domain = {
            "id": next(self._ids),
            "domain": body["domain"],
            "type": body["type"],
            "status": body.get("status") or "active",
            **{key: body.get(key) or 0 for key in SECONDS},
            **{key: body.get(key) or "" for key in TEXT},
            **{key: sorted(set(body.get(key) or [])) for key in LISTS},
        }
        self.items[domain["id"]] = domain
        return domain

    def update(self, domain: dict, body: dict) -> dict:
        errors = self._errors({**domain, **body}, creating=False, current=domain["id"])
        if errors:
            raise self._error(400, *errors)
        for key in ("domain", "type", "status", *SECONDS, *TEXT):
            if body.get(key) is not None:
                domain[key] = body[key]
        for key in LISTS:
            if body.get(key) is not None:
                domain[key] = sorted(set(body[key]))
        return domain

    def _errors(self, body: dict, creating: bool, current: int | None = None) -> Errors:
        errors: Errors = []
        name = body.get("domain")
        if not isinstance(name, str) or not DOMAIN_NAME.match(name):
            errors.append(("domain must be a valid domain name", "domain"))
        elif any(d["domain"] == name and d["id"] != current for d in self.items.values()):
            errors.append(("DNS zone already exists", "domain"))
        if body.get("type") not in TYPES:
            errors.append(("type must be master or slave", "type"))
        elif body["type"] == "master" and not body.get("soa_email"):
            errors.append(("soa_email is required for master domains", "soa_email"))
        elif body["type"] == "slave" and not body.get("master_ips"):
            errors.append(("master_ips is required for slave domains", "master_ips"))
        if body.get("status") not in (None, "", *STATUSES):
            errors.append(("status must be active or disabled", "status"))
        errors += _typed(body, SECONDS, int, "must be a whole number of seconds")
        errors += _typed(body, TEXT, str, "must be a string")
        errors += _typed(body, LISTS, list, "must be a list")
        return errors


def _typed(body: dict[str, Any], keys: tuple[str, ...], kind: type, reason: str) -> Errors:
    wrong = [k for k in keys if body.get(k) is not None and not isinstance(body[k], kind)]
    return [(f"{key} {reason}", key) for key in wrong]
