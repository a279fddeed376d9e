"""``jetgen-runtime``: run the controller of one generated provider.

A generated provider's ``__main__.py`` calls ``main(kinds_file=...)`` with its own
``kinds.json``; the console script takes ``--kinds FILE`` instead.  Every option has an
environment variable (``JETGEN_<OPTION>``) so a Deployment can set them without arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar, overload

from jetgen.runtime import kubeauth, logs, operator, transforms
from jetgen.runtime.contract import kindsfile
from jetgen.runtime.contract.errors import ContractError
from jetgen.runtime.kinds import DRIVERS, ProviderInfo
from jetgen.runtime.settings import Settings

logger = logging.getLogger(__name__)


@overload
def _env(name: str) -> str | None: ...
@overload
def _env(name: str, default: str) -> str: ...
@overload
def _env(name: str, default: str | None) -> str | None: ...
def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"JETGEN_{name}", default)


_N = TypeVar("_N", int, float)


class SettingError(ValueError):
    """A JETGEN_* variable that does not hold what its option takes."""


def _env_number(name: str, convert: type[_N], default: _N) -> _N:
    """A number from JETGEN_<name>; unset or empty is the default. A value that is not a
    number is one line naming the variable, not a traceback while the parser is built."""
    value = _env(name)
    if not value:
        return default
    try:
        return convert(value)
    except ValueError:
        wanted = {"int": "an integer"}.get(convert.__name__, "a number")
        option = "--" + name.lower().replace("_", "-")
        raise SettingError(
            f"JETGEN_{name} ({option}): {json.dumps(value)} is not {wanted}"
        ) from None


def _env_int(name: str) -> int | None:
    """An optional number: unset or empty is None."""
    return _env_number(name, int, 0) if _env(name) else None


def _env_choice(name: str, choices: Sequence[str]) -> str:
    """One of ``choices`` from JETGEN_<name>, or "" when unset or empty."""
    value = _env(name) or ""
    if value and value not in choices:
        raise SettingError(f"JETGEN_{name}: {json.dumps(value)} is not one of {', '.join(choices)}")
    return value


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (argparse's own prints the whole usage first, some twenty
    lines for this many options, which buries the line that names the option)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (--help lists the options)\n")


def parser() -> argparse.ArgumentParser:
    defaults = Settings()
    p = _Parser(
        prog="jetgen-runtime",
        description="Reconcile the managed resources of one generated provider with Terraform.",
    )
    p.add_argument("--kinds", type=Path, default=_env("KINDS"), help="the provider's kinds.json")
    p.add_argument(
        "--kubeconfig",
        default=None,
        help="kubeconfig (default: in-cluster, then $KUBECONFIG, then ~/.kube/config)",
    )
    p.add_argument(
        "--kube-qps",
        type=float,
        default=_env_number("KUBE_QPS", float, defaults.kube_qps),
        help="requests per second to the apiserver on average, 0 for no limit "
        "(default %(default)s)",
    )
    p.add_argument(
        "--kube-burst",
        type=int,
        default=_env_number("KUBE_BURST", int, defaults.kube_burst),
        help="requests to the apiserver at once before --kube-qps applies (default %(default)s)",
    )
    p.add_argument(
        "--kube-cache",
        action=argparse.BooleanOptionalAction,
        default=_env("KUBE_CACHE", "1") != "0",
        help="read ProviderConfigs, Secrets and referenced objects from watched caches "
        "(default on; --no-kube-cache: ask the apiserver on every pass)",
    )
    p.add_argument(
        "--poll-interval",
        type=float,
        default=_env_number("POLL_INTERVAL", float, 60.0),
        help="seconds between drift checks of one resource (default 60)",
    )
    p.add_argument(
        "--max-runs",
        type=int,
        default=_env_number("MAX_RUNS", int, defaults.max_runs),
        help="Terraform runs at once (default %(default)s)",
    )
    p.add_argument(
        "--run-timeout",
        type=float,
        default=_env_number("RUN_TIMEOUT", float, 3600.0),
        help="seconds before one Terraform run is interrupted (default 3600)",
    )
    p.add_argument(
        "--rpc-timeout",
        type=float,
        default=_env_number("RPC_TIMEOUT", float, defaults.rpc_timeout),
        help="seconds one plugin-protocol call of a poll may take before the poll falls "
        "back to Terraform (default %(default)s)",
    )
    p.add_argument(
        "--watch-timeout",
        type=float,
        default=_env_number("WATCH_TIMEOUT", float, defaults.watch_timeout),
        help="seconds one watch stream of a kind stays open before it is started again; "
        "a stream that stopped delivering is dropped after this plus 10 (default %(default)s)",
    )
    p.add_argument(
        "--poll-driver",
        choices=["plugin", "cli"],
        default=_env("POLL_DRIVER", defaults.poll_driver),
        help="polls of settled resources: plugin protocol to a shared provider process, "
        "Terraform only on change (plugin), or a Terraform plan every time (cli); "
        "default %(default)s",
    )
    p.add_argument(
        "--driver",
        choices=DRIVERS,
        default=_env_choice("DRIVER", DRIVERS),
        help="how every kind's writes are done, overriding kinds.json: plugin protocol on "
        "the shared provider process with the CLI where that cannot prove the result "
        "(plugin), or always the Terraform CLI (cli); default: each kind's own",
    )
    p.add_argument(
        "--max-providers",
        type=int,
        default=_env_number("MAX_PROVIDERS", int, defaults.max_providers),
        help="shared provider processes at most, for --poll-driver plugin (default %(default)s)",
    )
    p.add_argument(
        "--provider-rss-growth",
        type=int,
        default=_env_number("PROVIDER_RSS_GROWTH", int, defaults.provider_rss_growth_mib),
        help="MiB a shared provider process may grow beyond its size at start before a "
        "fresh one replaces it; 0 never replaces (default %(default)s)",
    )
    p.add_argument(
        "--namespace",
        action="append",
        default=_split(_env("NAMESPACES")),
        help="namespace (glob) to watch; repeat for several (default: all)",
    )
    p.add_argument(
        "--serve",
        action="append",
        default=_split(_env("SERVE")),
        help="Kind, group or Kind.group to serve; repeat (default: all kinds)",
    )
    p.add_argument(
        "--safe-start",
        action=argparse.BooleanOptionalAction,
        default=_env("SAFE_START", "1") != "0",
        help="serve a kind only once its CRD is established, and take up kinds whose CRD "
        "appears later (default on; --no-safe-start: the kinds API discovery shows)",
    )
    p.add_argument(
        "--terraform",
        default=_env("TERRAFORM", "tofu"),
        help="tofu or terraform executable (default %(default)s)",
    )
    p.add_argument(
        "--cli-config",
        default=_env("CLI_CONFIG", os.environ.get("TF_CLI_CONFIG_FILE")),
        help="TF_CLI_CONFIG_FILE for every run (the provider mirror)",
    )
    p.add_argument(
        "--workdir-root",
        type=Path,
        default=Path(_env("WORKDIR_ROOT", str(defaults.workdir_root))),
        help="parent of per-resource workdirs (default %(default)s)",
    )
    p.add_argument(
        "--state-namespace",
        default=_env("STATE_NAMESPACE", defaults.state_namespace),
        help="namespace of state Secrets of cluster-scoped resources",
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        default=_env_int("METRICS_PORT"),
        help="serve Prometheus metrics on this port",
    )
    p.add_argument(
        "--health-port",
        type=int,
        default=_env_int("HEALTH_PORT"),
        help="answer liveness/readiness probes on this port at /healthz",
    )
    p.add_argument(
        "--leader-elect",
        action="store_true",
        default=_env("LEADER_ELECT") == "1",
        help="reconcile only while holding the leader Lease (for several replicas)",
    )
    p.add_argument(
        "--leader-election-id",
        default=_env("LEADER_ELECTION_ID", ""),
        help="name of the Lease (default jetgen-<provider name>)",
    )
    p.add_argument(
        "--leader-election-namespace",
        default=_env("LEADER_ELECTION_NAMESPACE", defaults.leader_election_namespace),
        help="namespace of the Lease (default: $POD_NAMESPACE, else default)",
    )
    for option, attribute, what in (
        ("lease-duration", "lease_duration", "a standby takes over after the leader's "),
        ("renew-deadline", "renew_deadline", "the leader exits when it could not renew for "),
        ("renew-period", "renew_period", "the leader renews every "),
        ("retry-period", "retry_period", "a standby tries every "),
    ):
        default = getattr(defaults, attribute)
        p.add_argument(
            f"--{option}",
            type=float,
            default=_env_number(option.upper().replace("-", "_"), float, default),
            help=f"{what}this many seconds (default {default:g})",
        )
    p.add_argument("--log-level", default=_env("LOG_LEVEL", "INFO"))
    p.add_argument(
        "--log-json",
        action="store_true",
        default=_env("LOG_JSON") == "1",
        help="one JSON object per log line",
    )
    return p


def settings_from(args: argparse.Namespace) -> Settings:
    return Settings(
        poll_interval=args.poll_interval,
        max_runs=args.max_runs,
        run_timeout=args.run_timeout,
        rpc_timeout=args.rpc_timeout,
        watch_timeout=args.watch_timeout,
        poll_driver=args.poll_driver,
        driver=args.driver or "",
        max_providers=args.max_providers,
        provider_rss_growth_mib=args.provider_rss_growth,
        namespaces=args.namespace,
        serve=args.serve,
        safe_start=args.safe_start,
        binary=args.terraform,
        cli_config=args.cli_config,
        workdir_root=args.workdir_root,
        state_namespace=args.state_namespace,
        metrics_port=args.metrics_port,
        health_port=args.health_port,
        backoff_base=min(2.0, args.poll_interval),
        leader_election=args.leader_elect,
        leader_election_id=args.leader_election_id,
        leader_election_namespace=args.leader_election_namespace,
        lease_duration=args.lease_duration,
        renew_deadline=args.renew_deadline,
        renew_period=args.renew_period,
        retry_period=args.retry_period,
        kube_qps=args.kube_qps,
        kube_burst=args.kube_burst,
        kube_cache=args.kube_cache,
    )


# Every numeric option: (option, Settings attribute, lowest value it takes, whether that
# value itself is allowed).  NaN and infinity are refused everywhere; a huge value is taken
# at its word (a poll every 10^9 s never comes; a growth of 10^9 MiB never replaces).
NUMBERS: tuple[tuple[str, str, float, bool], ...] = (
    ("poll-interval", "poll_interval", 0, False),
    ("max-runs", "max_runs", 1, True),
    ("run-timeout", "run_timeout", 0, False),
    ("rpc-timeout", "rpc_timeout", 0, False),
    ("watch-timeout", "watch_timeout", 0, False),
    ("max-providers", "max_providers", 1, True),
    ("provider-rss-growth", "provider_rss_growth_mib", 0, True),
    ("kube-qps", "kube_qps", 0, True),
    ("kube-burst", "kube_burst", 1, True),
    ("metrics-port", "metrics_port", 0, True),  # 0: not served, as unset
    ("health-port", "health_port", 0, True),
    ("lease-duration", "lease_duration", 0, False),
    ("renew-deadline", "renew_deadline", 0, False),
    ("renew-period", "renew_period", 0, False),
    ("retry-period", "retry_period", 0, False),
)
PORT_MAX = 65535


def check_numbers(settings: Settings) -> None:
    """Raise ValueError naming the option (and its variable) whose number it cannot take: a
    zero or negative poll interval would loop without pause, a negative RSS growth replace
    every provider process on every use, a NaN timeout never expire."""
    for option, attribute, lowest, inclusive in NUMBERS:
        value = getattr(settings, attribute)
        if value is None:
            continue  # an optional port left unset
        port = attribute.endswith("_port")
        if port:
            bound = f"a port from 1 to {PORT_MAX}, or 0 for none"
        else:
            bound = f"at least {lowest:g}" if inclusive else f"above {lowest:g}"
        # An int is always finite (and math.isfinite cannot take one past float's range).
        finite = isinstance(value, int) or math.isfinite(value)
        fits = finite and (value >= lowest if inclusive else value > lowest)
        if not fits or (port and value > PORT_MAX):
            variable = "JETGEN_" + option.upper().replace("-", "_")
            shown = f"{value:g}" if isinstance(value, float) else str(value)
            raise ValueError(f"--{option} ({variable}) must be {bound}, got {shown}")


class StartError(Exception):
    """The provider package cannot run; the message is one line naming the file and key."""


def load(path: Path) -> ProviderInfo:
    """Read and check kinds.json (the contract's own reader and validator), import the
    hooks module, and compile every connection-detail transform, so a broken provider
    package fails at start, not on the first object."""
    # The path as one line (JSON-escaped), whole: shown() cuts values past 80 characters,
    # which made a long path end in "kin.." instead of naming the file.
    file = json.dumps(str(path))[1:-1]
    try:
        info = kindsfile.load(path)
    except ContractError as exc:
        raise StartError(f"{file}: {exc}") from None
    if info.hooks_module:
        _start_step(f"{file}: hooks_module", importlib.import_module, info.hooks_module)
    for index, kind in enumerate(info.kinds):
        for i, detail in enumerate(kind.connection_details):
            key = f"kinds[{index}].connection_details[{i}].transform"
            _start_step(f"{file}: {key}", transforms.compile_transform, detail.transform)
    return info


def _start_step(where: str, step: Callable[[Any], object], argument: Any) -> None:
    """Run one import step of start-up; whatever it raises (a module that is missing, or
    fails while importing) becomes one line."""
    try:
        step(argument)
    except Exception as exc:  # any failure here means the package is broken
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise StartError(f"{where}: {type(exc).__name__}: {text}") from None


def main(argv: Sequence[str] | None = None, kinds_file: Path | None = None) -> int:
    try:
        args = parser().parse_args(argv)
        settings = settings_from(args)
        check_numbers(settings)
        operator.lease_timing(settings).check()
    except ValueError as exc:  # SettingError included: a JETGEN_* variable
        print(f"jetgen-runtime: {exc}", file=sys.stderr)
        return 2
    logs.setup(args.log_level, args.log_json)
    path = args.kinds or kinds_file
    if path is None:
        print("jetgen-runtime: --kinds is required", file=sys.stderr)
        return 2
    try:
        info = load(Path(path))
    except StartError as exc:
        # The provider package itself is broken: say so plainly and stop (no retry helps).
        print(f"jetgen-runtime: {exc}", file=sys.stderr)
        return 2
    settings.leader_election_id = settings.leader_election_id or f"jetgen-{info.name}"
    # Credentials go first, before any log line: without them the one line that says
    # why is all there is to say (operator.run tries them before it starts anything).
    try:
        creds = kubeauth.load(args.kubeconfig)
        asyncio.run(operator.run(info, settings, creds))
    except (kubeauth.CredentialsError, operator.StartError) as exc:
        # Nothing to retry with: say what is missing in one line and stop.
        print(f"jetgen-runtime: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
