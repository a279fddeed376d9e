"""Load and observation of the test bed's apiserver for the scale benchmark.

* :func:`create_all` -- many objects created at once by parallel requests from here (the
  set-up of thousands of MRs takes seconds instead of one ``kubectl`` per batch);
* :class:`ReadyWatch` -- a watch on one resource recording when each object first turned
  Ready (``Ready`` and ``Synced`` True), so a thousand MRs are timed without polling lists;
* :func:`request_counts` -- ``apiserver_request_total`` from the apiserver's /metrics, by
  verb and resource, to tell requests per second and requests per new MR.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from typing import Any

import aiohttp

from tests.runtime import harness


def _context(api: Any) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(api.ca_file))


def create_all(api: Any, path: str, objects: list[dict], concurrency: int = 32) -> dict[str, float]:
    """POST every object to ``path`` with ``concurrency`` requests in flight; returns when
    (monotonic) each one's creation was answered, by name.  Raises on the first refusal."""
    created: dict[str, float] = {}

    async def run() -> None:
        headers = {"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"}
        limit = aiohttp.TCPConnector(limit=concurrency, ssl=_context(api))
        queue: asyncio.Queue[dict] = asyncio.Queue()
        for obj in objects:
            queue.put_nowait(obj)
        async with aiohttp.ClientSession(connector=limit, headers=headers) as session:

            async def worker() -> None:
                while not queue.empty():
                    obj = queue.get_nowait()
                    async with session.post(api.url + path, data=json.dumps(obj)) as response:
                        if response.status != 201:
                            text = await response.text()
                            raise RuntimeError(f"create {path}: HTTP {response.status}: {text}")
                    created[obj["metadata"]["name"]] = time.monotonic()

            await asyncio.gather(*(worker() for _ in range(concurrency)))

    asyncio.run(run())
    return created


def _get(api: Any, path: str, timeout: float = 60) -> Any:
    request = urllib.request.Request(api.url + path)
    request.add_header("Authorization", f"Bearer {api.token}")
    return urllib.request.urlopen(request, context=_context(api), timeout=timeout)


class ReadyWatch(threading.Thread):
    """Watches one resource path (a list URL) and records, per object name, the monotonic
    time it was first seen Ready.  ``ready`` is the set Ready now."""

    def __init__(self, api: Any, path: str):
        super().__init__(daemon=True)
        self.api = api
        self.path = path
        self.first_ready: dict[str, float] = {}
        self.ready: set[str] = set()
        self.names: set[str] = set()
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            version = self._list()
            while not self.stopped.is_set():
                version = self._watch(version)
        except BaseException as exc:  # noqa: BLE001 - reported by wait_ready
            self.error = exc

    def stop(self) -> None:
        self.stopped.set()

    def _list(self) -> str:
        for _ in range(60):
            try:
                with _get(self.api, self.path) as response:
                    body = json.load(response)
                break
            except urllib.error.HTTPError as exc:
                if exc.code not in (429, 503):  # a new CRD's watch cache is still starting
                    raise
                time.sleep(1)
        else:
            raise RuntimeError(f"list {self.path}: refused with 429/503 for a minute")
        for obj in body["items"]:
            self._note("ADDED", obj)
        return body["metadata"]["resourceVersion"]

    def _watch(self, version: str) -> str:
        query = f"?watch=1&allowWatchBookmarks=true&resourceVersion={version}&timeoutSeconds=300"
        try:
            with _get(self.api, self.path + query, timeout=5) as response:
                for line in response:
                    event = json.loads(line)
                    obj = event["object"]
                    if event["type"] == "ERROR":
                        return self._list()  # too old a version: start over
                    version = obj["metadata"]["resourceVersion"]
                    if event["type"] != "BOOKMARK":
                        self._note(event["type"], obj)
                    if self.stopped.is_set():
                        break
        except (TimeoutError, OSError, urllib.error.URLError):
            pass  # quiet for 5 s, or the server closed it: watch again from `version`
        return version

    def _note(self, kind: str, obj: dict) -> None:
        name = obj["metadata"]["name"]
        now = time.monotonic()
        with self.lock:
            if kind == "DELETED":
                self.names.discard(name)
                self.ready.discard(name)
                return
            self.names.add(name)
            if harness.is_ready(obj):
                self.ready.add(name)
                self.first_ready.setdefault(name, now)
            else:
                self.ready.discard(name)

    def count_ready(self, names: set[str] | None = None) -> int:
        with self.lock:
            return len(self.ready if names is None else self.ready & names)

    def wait_ready(self, names: set[str], timeout: float, every: float = 0.5) -> bool:
        """Until every one of ``names`` is Ready; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.error is not None:
                raise RuntimeError(f"watch of {self.path} failed: {self.error}")
            if self.count_ready(names) == len(names):
                return True
            time.sleep(every)
        return False


REQUEST = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$", re.M)
LABEL = re.compile(r'(\w+)="([^"]*)"')


def request_counts(api: Any) -> Counter[tuple[str, str]]:
    """Requests the apiserver has answered so far, by (verb, resource[/subresource]), the
    refused ones (HTTP 4xx/5xx) apart; requests to non-resource paths (/metrics, /readyz,
    discovery) are left out."""
    with _get(api, "/metrics") as response:
        text = response.read().decode()
    counts: Counter[tuple[str, str]] = Counter()
    for match in REQUEST.finditer(text):
        labels = dict(LABEL.findall(match["labels"]))
        resource = labels.get("resource", "")
        if not resource:
            continue
        if labels.get("subresource"):
            resource += "/" + labels["subresource"]
        if labels.get("code", "200") >= "400":
            resource += f" (refused {labels['code']})"
        counts[(labels.get("verb", "?"), resource)] += int(float(match["value"]))
    return counts


def diff(after: Counter, before: Counter) -> Counter:
    out = Counter(after)
    out.subtract(before)
    return Counter({key: n for key, n in out.items() if n > 0})
