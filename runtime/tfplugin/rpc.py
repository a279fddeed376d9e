"""The Terraform plugin protocol's RPCs under protocol-neutral names, for protocol 5 and 6.

Protocol 5 and 6 carry the same operations with (almost) the same messages but name some
of them differently, e.g. protocol 5 `Configure` is protocol 6 `ConfigureProvider`. One
table maps our operation names to the RPC path and message classes of each version, so the
typed client above it never branches on the protocol except where the messages really
differ (provider config validation, nested attribute types).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from types import ModuleType
from typing import Any

from grpclib.client import Channel, UnaryUnaryMethod
from grpclib.const import Status
from grpclib.exceptions import GRPCError, StreamTerminatedError
from jetgen.runtime.tfplugin import tfplugin5_pb2, tfplugin6_pb2

# operation -> (protocol 5 RPC and message, protocol 6 RPC and message). The RPC takes
# `<message>.Request` and returns `<message>.Response`; only GetSchema's message differs
# from the RPC name.
_OPERATIONS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "get_metadata": (("GetMetadata", "GetMetadata"), ("GetMetadata", "GetMetadata")),
    "get_schema": (
        ("GetSchema", "GetProviderSchema"),
        ("GetProviderSchema", "GetProviderSchema"),
    ),
    "validate_provider_config": (
        ("PrepareProviderConfig", "PrepareProviderConfig"),
        ("ValidateProviderConfig", "ValidateProviderConfig"),
    ),
    "validate_resource_config": (
        ("ValidateResourceTypeConfig", "ValidateResourceTypeConfig"),
        ("ValidateResourceConfig", "ValidateResourceConfig"),
    ),
    "upgrade_resource_state": (
        ("UpgradeResourceState", "UpgradeResourceState"),
        ("UpgradeResourceState", "UpgradeResourceState"),
    ),
    "configure": (("Configure", "Configure"), ("ConfigureProvider", "ConfigureProvider")),
    "read_resource": (("ReadResource", "ReadResource"), ("ReadResource", "ReadResource")),
    "plan_resource_change": (
        ("PlanResourceChange", "PlanResourceChange"),
        ("PlanResourceChange", "PlanResourceChange"),
    ),
    "apply_resource_change": (
        ("ApplyResourceChange", "ApplyResourceChange"),
        ("ApplyResourceChange", "ApplyResourceChange"),
    ),
    "import_resource_state": (
        ("ImportResourceState", "ImportResourceState"),
        ("ImportResourceState", "ImportResourceState"),
    ),
    "stop": (("Stop", "Stop"), ("StopProvider", "StopProvider")),
}

_MODULES: dict[int, tuple[ModuleType, str]] = {
    5: (tfplugin5_pb2, "tfplugin5"),
    6: (tfplugin6_pb2, "tfplugin6"),
}


class ProviderUnavailable(ConnectionError):
    """The provider process cannot be reached (it exited or crashed): restart it."""


class PluginRpc:
    """Calls the provider's RPCs over a connected channel, for one protocol version."""

    # RPCs made by this Python process, by operation, over all providers: what the
    # controller's metrics show (and tests count, e.g. GetProviderSchema calls).
    calls: Counter[str] = Counter()

    def __init__(self, channel: Channel, protocol_version: int):
        if protocol_version not in _MODULES:
            raise ValueError(f"unsupported plugin protocol {protocol_version}")
        self.protocol_version = protocol_version
        self.pb, package = _MODULES[protocol_version]
        index = 0 if protocol_version == 5 else 1
        # Message classes are looked up by name (protocols 5 and 6 differ), so untyped.
        self._methods: dict[str, tuple[UnaryUnaryMethod[Any, Any], type[Any]]] = {}
        for operation, names in _OPERATIONS.items():
            rpc, message = names[index]
            classes = getattr(self.pb, message)
            method = UnaryUnaryMethod(
                channel, f"/{package}.Provider/{rpc}", classes.Request, classes.Response
            )
            self._methods[operation] = (method, classes.Request)

    def dynamic(self, msgpack: bytes) -> Any:
        """A DynamicValue message of this protocol holding msgpack bytes."""
        return self.pb.DynamicValue(msgpack=msgpack)

    async def call(self, operation: str, timeout: float | None = None, **fields: Any) -> Any:
        """Build `<operation>.Request(**fields)`, call the RPC, return its Response."""
        method, request_class = self._methods[operation]
        PluginRpc.calls[operation] += 1
        try:
            # The timeout is ours, not grpclib's: grpclib would send it as a grpc-timeout
            # header, a new value to HPACK-encode on every call; a call that runs out is
            # cancelled either way, which resets its stream (the provider's context ends).
            async with asyncio.timeout(timeout):
                return await method(request_class(**fields))
        except (OSError, StreamTerminatedError) as exc:
            # An exception is always true; its text may be empty (a closed stream).
            raise ProviderUnavailable(f"{method.name}: {str(exc) or type(exc).__name__}") from exc
        except GRPCError as exc:
            if exc.status is Status.UNAVAILABLE:
                raise ProviderUnavailable(f"{method.name}: {exc.message}") from exc
            raise
