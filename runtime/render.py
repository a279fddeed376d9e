"""Render what Terraform should see for one managed resource.

Inputs: the MR's ``forProvider`` / ``initProvider``, the ProviderConfig it names (with the
credentials Secret), the Secrets its ``...SecretRef`` fields name, and the objects its
``<field>Ref`` / ``<field>Selector`` fields point at.  Output: a typed
:class:`~jetgen.runtime.terraform.desired.Desired` -- the provider setup (source, version,
arguments, credentials) and the resource block (type, arguments, ``ignore_changes``), which
write ``main.tf.json`` themselves.  Every missing input is a :class:`ReconcileError`
that names it (never its value); every secret value read is handed to the MR's redactor.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from jetgen.runtime import cache, fields, kube, names, references, transforms
from jetgen.runtime.contract import tree
from jetgen.runtime.kinds import Field, Kind, ProviderInfo
from jetgen.runtime.resource import EXTERNAL_NAME, ManagedResource, ReconcileError
from jetgen.runtime.terraform.desired import Desired, ProviderSetup, ResourceBlock

INJECTED_IDENTITY = "InjectedIdentity"
# The kinds a providerConfigRef may name (a Crossplane v1 style provider has only the first).
CONFIG_KINDS = ("ProviderConfig", "ClusterProviderConfig")


class Inputs:
    """What a provider setup is rendered from, recorded as it is read: each object the
    cache gave (with how to read it again) and each secret value the MR's redactor learnt
    (an MR given a remembered setup must learn them too)."""

    def __init__(self) -> None:
        self.reads: list[tuple[Callable[[], Awaitable[Any]], Any]] = []
        self.secrets: list[str] = []
        self.remember = True  # False: depends on more than the objects read

    async def read(self, fetch: Callable[[], Awaitable[Any]]) -> Any:
        found = await fetch()
        self.reads.append((fetch, found))
        return found

    def learn(self, mr: ManagedResource, value: str) -> None:
        mr.secrets.add(value)
        self.secrets.append(value)

    async def unchanged(self) -> bool:
        """Whether every object read is what the cache holds now (in the same order: equal
        objects name the same next ones)."""
        for fetch, seen in self.reads:
            if await fetch() != seen:
                return False
        return True

    def teach(self, mr: ManagedResource) -> None:
        for value in self.secrets:
            mr.secrets.add(value)


@dataclass(frozen=True)
class Remembered:
    """A provider setup and what it was rendered from."""

    inputs: Inputs
    setup: ProviderSetup


class Renderer:
    """Renders one kind's MRs; reads through the cache the rest of the runtime shares."""

    def __init__(self, info: ProviderInfo, reads: cache.Cache, kind: Kind):
        self.info = info
        self.reads = reads
        self.kind = kind
        # The last provider setup rendered per config reference (kind, name, namespace),
        # with its inputs: while the cache holds the same objects, every MR naming that
        # config gets that same setup object, not a new one decoded, built and
        # fingerprinted on every pass (one per config; dropped when it is not current).
        self.setups: dict[tuple[str, str, str | None], Remembered] = {}

    async def desire(self, mr: ManagedResource, known: dict[str, Any] | None = None) -> Desired:
        """Everything Terraform needs for one pass; raises :class:`ReconcileError` if an
        input (config, Secret, reference) is missing.

        ``known`` is the resource's attributes in the Terraform state: they hold the value
        a reference resolved to when it was applied, which resolve policy IfNotPresent
        keeps, and which stands in when the referenced object is gone (it must not block
        the deletion of this one)."""
        provider = await self._provider(mr)
        for_provider = await self._resolve_references(mr, mr.for_provider, known)
        init_provider = mr.init_provider
        merged = fields.merge_init_provider(for_provider, init_provider)
        refs = fields.collect_secret_refs(self.kind.fields, merged)
        # The resource's own Secrets are read on every pass (Inputs() only collects).
        secret_values = await self._secret_values(
            mr, Inputs(), refs, mr.namespace, "spec.forProvider"
        )
        resource = ResourceBlock(
            type=self.kind.terraform_type,
            arguments=fields.to_terraform(self.kind.fields, merged, secret_values),
            ignore_changes=tuple(
                fields.ignore_changes(self.kind.fields, init_provider, for_provider)
            ),
        )
        return Desired(provider=provider, resource=resource)

    async def _provider(self, mr: ManagedResource) -> ProviderSetup:
        """The provider setup from the ProviderConfig the MR names: arguments, credential
        arguments, credential environment.  Rendered again only when an object it was
        rendered from is not the cache's current one (see :class:`Inputs`)."""
        info = self.info
        ref = mr.spec.get("providerConfigRef") or {}
        name = names.object_name("spec.providerConfigRef.name", ref.get("name") or "default")
        kind = ref.get("kind") or "ProviderConfig"
        kinds = ("ProviderConfig",) if info.scope == "Cluster" else CONFIG_KINDS
        if kind not in kinds:
            raise names.InvalidName(f"spec.providerConfigRef.kind: {kind!r} is not one of {kinds}")
        if kind == "ClusterProviderConfig":
            plural, config_ns = "clusterproviderconfigs", None
        elif info.scope == "Cluster" or not mr.namespace:
            plural, config_ns = "providerconfigs", None
        else:
            plural, config_ns = "providerconfigs", mr.namespace
        key = (kind, name, config_ns)
        remembered = self.setups.get(key)
        if remembered is not None and await remembered.inputs.unchanged():
            remembered.inputs.teach(mr)
            return remembered.setup
        self.setups.pop(key, None)
        inputs = Inputs()
        setup = await self._render_provider(mr, inputs, kind, name, plural, config_ns)
        if inputs.remember:
            self.setups[key] = Remembered(inputs, setup)
        return setup

    async def _render_provider(
        self,
        mr: ManagedResource,
        inputs: Inputs,
        kind: str,
        name: str,
        plural: str,
        config_ns: str | None,
    ) -> ProviderSetup:
        info = self.info
        setup = ProviderSetup(source=info.source, version=info.version)
        api = f"{info.config_group}/{info.config_version}"
        config = await inputs.read(functools.partial(self.reads.get, api, plural, config_ns, name))
        if config is None:
            if name == "default" and not info.credentials:
                # A provider without credentials (random, local, ...) works without any
                # config; only a config the user named explicitly must exist.
                return setup
            raise ReconcileError(f"{kind} {name!r} not found")
        spec = config.get("spec") or {}
        configuration = spec.get("configuration") or {}
        arguments = await self._provider_arguments(mr, inputs, configuration, config_ns)
        credentials = spec.get("credentials") or {}
        if credentials.get("source") == INJECTED_IDENTITY:
            identity = self._injected_identity(kind, name, config_ns)
            inputs.remember = False  # the process environment is read, not an object
            return replace(setup, arguments=arguments, environment=identity)
        values = await self._credentials(mr, inputs, kind, name, credentials, config_ns)
        by_argument: dict[str, str] = {}  # provider argument -> value: TF_VAR_*
        environment: dict[str, str] = {}  # variables the provider reads itself
        for cred in info.credentials:
            value = values.get(cred.key)
            if value is None:
                if cred.optional:
                    continue
                raise ReconcileError(f"credentials of {kind} {name!r} have no key {cred.key!r}")
            if cred.env:
                environment[cred.env] = value
            if cred.argument:
                by_argument[cred.argument] = value
        return replace(setup, arguments=arguments, credentials=by_argument, environment=environment)

    @staticmethod
    def _injected_identity(kind: str, name: str, config_ns: str | None) -> dict[str, str]:
        """``credentials.source: InjectedIdentity`` (Crossplane's name): the run inherits
        the controller's own environment -- its pod identity, cloud variables and all.
        Only a cluster-scoped config may ask for that: the cluster admin writes those,
        while a namespaced ProviderConfig is the tenant's."""
        if config_ns is not None:
            raise ReconcileError(
                f"{kind} {name!r}: credentials.source {INJECTED_IDENTITY} is allowed only on "
                "a cluster-scoped config (it hands the controller's own identity to the run)"
            )
        return dict(os.environ)

    async def _provider_arguments(
        self,
        mr: ManagedResource,
        inputs: Inputs,
        configuration: dict[str, Any],
        namespace: str | None,
    ) -> dict[str, Any]:
        provider_fields = self.info.provider_fields
        if not provider_fields:
            return dict(configuration)
        refs = fields.collect_secret_refs(provider_fields, configuration)
        secrets = await self._secret_values(mr, inputs, refs, namespace, "spec.configuration")
        return fields.to_terraform(provider_fields, configuration, secrets)

    async def _credentials(
        self,
        mr: ManagedResource,
        inputs: Inputs,
        kind: str,
        name: str,
        credentials: dict[str, Any],
        namespace: str | None,
    ) -> dict[str, str]:
        """The ProviderConfig's credential Secret as key -> text.

        ``secretRef.key``, when given, names one key holding a JSON object of credentials
        (Crossplane's usual shape); otherwise every key of the Secret is a credential.
        """
        if not self.info.credentials or credentials.get("source", "Secret") != "Secret":
            return {}
        ref = credentials.get("secretRef") or {}
        where = f"{kind} {name!r} spec.credentials.secretRef"
        # A namespaced ProviderConfig reads Secrets of its own namespace only.
        secret_ns = names.own_namespace(f"{where}.namespace", ref.get("namespace"), namespace)
        if not ref.get("name") or not secret_ns:
            raise ReconcileError(f"{kind} {name!r}: credentials.secretRef needs name and namespace")
        secret_name = names.object_name(f"{where}.name", ref["name"])
        key = ref.get("key")
        if key:
            names.secret_key(f"{where}.key", key)
        what = f"credentials of {kind} {name!r}"
        data = await self._secret(inputs, secret_ns, secret_name, what)
        for value in data.values():
            inputs.learn(mr, value)
        if not key:
            return data
        if key not in data:
            raise ReconcileError(f"Secret {secret_ns}/{ref['name']} has no key {key!r}")
        try:
            document = json.loads(data[key])
        except ValueError:
            return {key: data[key]}
        if not isinstance(document, dict):
            return {key: data[key]}
        values = {k: v if isinstance(v, str) else json.dumps(v) for k, v in document.items()}
        for value in values.values():
            inputs.learn(mr, value)
        return values

    async def _secret_values(
        self,
        mr: ManagedResource,
        inputs: Inputs,
        refs: list[fields.SecretRefUse],
        namespace: str | None,
        where: str,
    ) -> dict[Any, str]:
        """The values ``<field>SecretRef``s name; ``namespace`` is the only one a namespaced
        object (MR or ProviderConfig) may read, None for cluster-scoped ones."""
        values: dict[Any, str] = {}
        for ref in refs:
            field_name = ".".join(map(str, (*ref.path[:-1], ref.ref_field or ref.path[-1])))
            at = f"{where}.{field_name}"
            secret_ns = names.own_namespace(f"{at}.namespace", ref.namespace, namespace)
            if not ref.name or not ref.key or not secret_ns:
                raise ReconcileError(f"SecretRef of {field_name} needs name, key and namespace")
            names.object_name(f"{at}.name", ref.name)
            names.secret_key(f"{at}.key", ref.key)
            data = await self._secret(inputs, secret_ns, ref.name, "referenced")
            if ref.key not in data:
                raise ReconcileError(f"Secret {secret_ns}/{ref.name} has no key {ref.key!r}")
            inputs.learn(mr, data[ref.key])
            values[ref.path] = data[ref.key]
        return values

    async def _secret(self, inputs: Inputs, namespace: str, name: str, what: str) -> dict[str, str]:
        secret = await inputs.read(functools.partial(self.reads.secret, namespace, name))
        if secret is None:
            raise ReconcileError(f"Secret {namespace}/{name} ({what}) not found")
        return kube.decode_secret(secret)

    async def _resolve_references(
        self, mr: ManagedResource, for_provider: dict[str, Any], known: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Fill ``<field>`` from ``<field>Ref`` / ``<field>Selector`` under their policies
        (:mod:`jetgen.runtime.references`), in every item when the path runs through list
        or set blocks."""
        for reference in self.kind.references:
            json_path = tree.resolve(self.kind.fields, reference.field)
            if json_path is None:
                continue
            leaf, leaf_field = json_path[-1]
            # The generator records the Ref/Selector names; fall back to the convention.
            ref_name = leaf_field.ref or f"{leaf}Ref"
            selector_name = leaf_field.selector or f"{leaf}Selector"
            prefix = ".".join(["spec.forProvider", *(j for j, _ in json_path[:-1])])
            for container, known_value in _containers(for_provider, json_path, known):
                by_name = container.get(ref_name) or {}
                selector = container.get(selector_name) or {}
                if not (by_name or selector):
                    continue
                at = (f"{prefix}.{ref_name}", f"{prefix}.{selector_name}")
                by_selector = references.use_selector(by_name, selector)
                chosen_at = at[1] if by_selector else at[0]
                chosen = references.policy(
                    chosen_at, (selector if by_selector else by_name).get("policy")
                )
                # The field's current value: the user's, else the one an earlier pass
                # resolved (jetgen does not write resolved values back into the spec;
                # Terraform's state holds them).
                explicit = container.get(leaf)
                current = explicit if explicit is not None else known_value
                if not references.needs_resolution(chosen, current):
                    if explicit is None:
                        container[leaf] = known_value
                    continue
                target = self._kind_named(reference.kind, reference.group)
                try:
                    value = await self._referenced_value(
                        mr,
                        target,
                        reference.value_from,
                        by_name if not by_selector else {},
                        selector,
                        at,
                    )
                except ReconcileError:
                    # A resolved value in state keeps the resource whole (and deletable)
                    # while its target is gone; with none, Optional leaves the field unset.
                    if current is not None:
                        value = current
                    elif chosen.optional:
                        continue
                    else:
                        raise
                container[leaf] = value
        return for_provider

    async def _referenced_value(
        self,
        mr: ManagedResource,
        target: Kind,
        value_from: str,
        by_name: dict[str, Any],
        selector: dict[str, Any],
        at: tuple[str, str],
    ) -> Any:
        # No kind opts in to cross-namespace references: a namespaced MR reaches only its
        # own namespace, so a namespace given on a reference must be that one.
        ref_at, selector_at = at
        given_at = ref_at if by_name else selector_at
        given = (by_name or selector).get("namespace")
        own = names.own_namespace(f"{given_at}.namespace", given, mr.namespace)
        namespace = own if target.scope == "Namespaced" else None
        if by_name:
            name = names.object_name(f"{ref_at}.name", by_name.get("name"))
            obj = await self.reads.get(target.api_version, target.plural, namespace, name)
            label = name
        else:
            labels = names.match_labels(
                f"{selector_at}.matchLabels", selector.get("matchLabels") or {}
            )
            match_controller = selector.get("matchControllerRef") is True
            query = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
            items = await self.reads.select(target.api_version, target.plural, namespace, labels)
            obj = references.select(items, match_controller, references.controller_uid(mr.body))
            label = f"selector {query}" + (" with matchControllerRef" if match_controller else "")
        if obj is None:
            raise ReconcileError(f"referenced {target.kind} {label} not found")
        if value_from == "external_name":
            value = (obj["metadata"].get("annotations") or {}).get(EXTERNAL_NAME)
        else:
            try:
                value = transforms.lookup(obj, value_from)
            except KeyError:
                value = None
        if value is None:
            raise ReconcileError(f"referenced {target.kind} {label} has no {value_from} yet")
        return value

    def _kind_named(self, name: str, group: str | None) -> Kind:
        kind = tree.kind_named(self.info.kinds, name, group)
        if kind is None:  # the contract's check at start-up makes this unreachable
            raise ReconcileError(f"reference to unknown kind {name} (group {group})")
        return kind

    # --- workdir and state -------------------------------------------------------------


def _containers(
    value: Any, path: list[tuple[str, Field]], state: Any
) -> Iterator[tuple[dict[str, Any], Any]]:
    """Each JSON object holding the path's last field, with the value Terraform's state has
    there (None when unknown).  A list or set block fans out to its items, matched to the
    state's items by position; in state a single nested block is a one-item list."""
    if isinstance(value, list):
        states = state if isinstance(state, list) else []
        for i, item in enumerate(value):
            yield from _containers(item, path, states[i] if i < len(states) else None)
        return
    if not isinstance(value, dict):
        return
    if isinstance(state, list):
        state = state[0] if len(state) == 1 else None
    (name, field), rest = path[0], path[1:]
    here = state.get(field.tf_name) if isinstance(state, dict) else None
    if rest and field.type == "map":
        # A map of objects: each entry's object, matched to the state's entry by key.
        entries = value.get(name)
        for key, entry in (entries if isinstance(entries, dict) else {}).items():
            yield from _containers(entry, rest, here.get(key) if isinstance(here, dict) else None)
    elif rest:
        yield from _containers(value.get(name), rest, here)
    else:
        yield value, here
