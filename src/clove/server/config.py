"""``clove serve`` settings from flags, environment variables and a TOML file, in that order.

Every setting has a flag (``--grpc-addr``), an environment variable (``CLOVE_GRPC_ADDR``) and a
key in the config file (``grpc_addr = "..."``, top level or under ``[serve]``); a flag beats
the environment, which beats the file, which beats the default.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clove.engine.typesystem import DEFAULT_MAX_CAVEAT_COST
from clove.errors import InvalidInputError
from clove.server.gate import ClientKey
from clove.server.limits import Limits
from clove.server.scopes import parse_scopes

CONFIG_VARIABLE = "CLOVE_SERVE_CONFIG"


@dataclass(frozen=True, slots=True, kw_only=True)
class Setting:
    """One setting: its name (flag ``--name-with-dashes``, variable ``CLOVE_NAME``), parse, help."""

    name: str
    parse: Callable[[str], Any]
    default: Any
    help: str
    metavar: str = ""

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def variable(self) -> str:
        return "CLOVE_" + self.name.upper()


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"{text} is not a positive integer")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):  # NaN and infinity too
        raise ValueError(f"{text} is not a positive number")
    return value


# argparse names the type in its message: "invalid positive integer value: '0'".
_positive_int.__name__ = "positive integer"
_positive_float.__name__ = "positive number"


_DEFAULTS = Limits()

SETTINGS: tuple[Setting, ...] = (
    Setting(name="db", parse=str, default="sqlite://clove.db", metavar="URL",
            help="database: memory, sqlite:///path or postgresql://... (memory runs one worker)"),
    Setting(name="grpc_addr", parse=str, default="127.0.0.1:50051", metavar="HOST:PORT",
            help="where to serve SpiceDB's v1 gRPC API"),
    Setting(name="http_addr", parse=str, default="127.0.0.1:8080", metavar="HOST:PORT",
            help="where to serve the HTTP API (AuthZEN, JSON, OpenAPI, /metrics); 'off' for none"),
    Setting(name="workers", parse=_positive_int, default=os.cpu_count() or 1, metavar="N",
            help="worker processes sharing the ports and the store (default: all cores)"),
    Setting(name="key_file", parse=str, default=None, metavar="FILE",
            help="bearer keys, one `client:scopes=key` a line (scopes: read, write, admin joined "
                 "by +; `client=key` holds all three); also $CLOVE_KEYS=client:read=key,..."),
    Setting(name="tls_cert", parse=str, default=None, metavar="FILE",
            help="PEM certificate chain: serve TLS (with --tls-key)"),
    Setting(name="tls_key", parse=str, default=None, metavar="FILE",
            help="PEM private key for --tls-cert"),
    Setting(name="insecure", parse=lambda text: text.lower() in ("1", "true", "yes", "on"),
            default=False, metavar="",
            help="allow plain (non-TLS) serving on addresses other than loopback"),
    Setting(name="rate_limit", parse=_positive_float, default=_DEFAULTS.rate, metavar="PER_SEC",
            help="requests per second each client may make (token bucket refill rate)"),
    Setting(name="burst", parse=_positive_int, default=_DEFAULTS.burst, metavar="N",
            help="requests a client may make at once (token bucket size)"),
    Setting(name="concurrency", parse=_positive_int, default=_DEFAULTS.concurrency, metavar="N",
            help="requests of one client that may run at the same time, across all workers"),
    Setting(name="max_caveat_cost", parse=_positive_int, default=DEFAULT_MAX_CAVEAT_COST,
            metavar="UNITS",
            help="largest estimated cost of one caveat evaluation (from its CEL and the sizes of "
                 "its context; about 10-40 ns a unit); dearer ones fail with INVALID_ARGUMENT"),
    Setting(name="cost_rate", parse=_positive_float, default=_DEFAULTS.cost_rate, metavar="STEPS",
            help="evaluation steps per second each client may use across all workers (its CPU "
                 "quota; a worker takes a few hundred thousand a second): a client past it is "
                 "refused, and its running request stopped, with RESOURCE_EXHAUSTED "
                 "(default: no quota; heavy clients still yield to light ones)"),
    Setting(name="cost_burst", parse=_positive_float, default=_DEFAULTS.cost_burst,
            metavar="STEPS",
            help="evaluation steps a client may use at once (the bucket of --cost-rate)"),
    Setting(name="max_message_bytes", parse=_positive_int, default=_DEFAULTS.max_message_bytes,
            metavar="BYTES", help="largest request message accepted"),
    Setting(name="max_batch", parse=_positive_int, default=_DEFAULTS.max_batch, metavar="N",
            help="most items in one bulk check, write, delete or import message"),
    Setting(name="max_page", parse=_positive_int, default=_DEFAULTS.max_page, metavar="N",
            help="largest page (limit) of a read, export or lookup"),
    Setting(name="max_depth", parse=_positive_int, default=_DEFAULTS.max_depth, metavar="N",
            help="most nested steps one check or lookup may take (as SpiceDB's dispatch depth); "
                 "deeper ones fail with RESOURCE_EXHAUSTED"),
    Setting(name="max_streams", parse=_positive_int, default=_DEFAULTS.max_streams, metavar="N",
            help="watches one client may keep open across all workers (they hold no "
                 "--concurrency slot; each holds a request thread, at most half per worker)"),
    Setting(name="gc_window", parse=_positive_float, default=86_400.0, metavar="SECONDS",
            help="history kept for tokens and watch cursors; older ones get OUT_OF_RANGE"),
    Setting(name="gc_interval", parse=_positive_float, default=None, metavar="SECONDS",
            help="collect garbage (history past --gc-window, expired relationships) this often, "
                 "from one worker (default: never; run `clove gc` instead)"),
    Setting(name="threads", parse=_positive_int, default=32, metavar="N",
            help="request threads per worker"),
    Setting(name="read_timeout", parse=_positive_float, default=5.0, metavar="SECONDS",
            help="how long a client may take to send a whole HTTP request (headers and body) "
                 "from when its connection opens or its last answer was sent, or to open a "
                 "gRPC connection; slower connections are closed"),
    Setting(name="max_connections_per_peer", parse=_positive_int, default=128, metavar="N",
            help="HTTP connections one client address may hold open at once, per worker; "
                 "more are closed as soon as they open"),
    Setting(name="grace", parse=_positive_float, default=10.0, metavar="SECONDS",
            help="how long shutdown waits for requests in flight"),
    Setting(name="log_level", parse=str, default="info", metavar="LEVEL",
            help="debug (one line per request), info, warning or error"),
)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class ServeConfig:
    """Everything a worker needs; picklable, so workers started with ``spawn`` receive it."""

    db: str
    grpc_addr: str
    http_addr: str | None
    workers: int
    keys: Mapping[str, ClientKey]
    tls_cert: bytes | None
    tls_key: bytes | None
    limits: Limits
    gc_window: float
    gc_interval: float | None
    max_caveat_cost: int
    threads: int
    read_timeout: float
    max_connections_per_peer: int
    grace: float
    log_level: str


def resolve(flags: Mapping[str, Any], *, config_file: str | None) -> dict[str, Any]:
    """Each setting's value: flag, else environment, else config file, else default."""
    path = config_file or os.environ.get(CONFIG_VARIABLE)
    from_file = _read_config_file(Path(path)) if path else {}
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        flag = flags.get(setting.name)
        try:
            if flag is not None and flag is not False:
                values[setting.name] = flag
            elif setting.variable in os.environ:
                values[setting.name] = setting.parse(os.environ[setting.variable])
            elif setting.name in from_file:
                raw = from_file[setting.name]
                values[setting.name] = setting.parse(str(raw)) if not isinstance(raw, bool) else raw
            else:
                values[setting.name] = setting.default
        except ValueError as error:
            raise InvalidInputError(f"bad value for {setting.flag}: {error}") from None
    return values


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        loaded = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise InvalidInputError(f"config file {path}: {error}") from None
    table = loaded.get("serve", loaded)
    if not isinstance(table, dict):
        raise InvalidInputError(f"config file {path}: [serve] must be a table")
    known = {setting.name for setting in SETTINGS}
    table = {key.replace("-", "_"): value for key, value in table.items()}
    unknown = sorted(set(table) - known)
    if unknown:
        raise InvalidInputError(f"config file {path}: unknown settings {', '.join(unknown)}")
    return table


def parse_keys(text: str, *, separator: str, source: str) -> dict[str, ClientKey]:
    """``client:scopes=key`` entries split by ``separator``; blanks and ``#`` comments skipped.

    ``scopes`` is ``read``, ``write`` and ``admin`` joined by ``+`` (``app:read+write=...``);
    an entry without them (``client=key``) holds every scope, as before scopes existed.
    """
    keys: dict[str, ClientKey] = {}
    for number, raw in enumerate(text.split(separator), start=1):
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        name, equals, key = entry.partition("=")
        client, colon, scopes = name.partition(":")
        client, key = client.strip(), key.strip()
        if not equals or not client or not key:
            raise InvalidInputError(
                f"{source}: entry {number} is not `client=key` or `client:scopes=key`"
            )
        if client in keys:
            raise InvalidInputError(f"{source}: client {client!r} is given twice")
        if len(key) < 16:
            raise InvalidInputError(
                f"{source}: the key of client {client!r} is shorter than 16 characters"
            )
        if not colon:
            keys[client] = ClientKey(key=key)
            continue
        try:
            keys[client] = ClientKey(key=key, scopes=parse_scopes(scopes), scoped=True)
        except ValueError as error:
            raise InvalidInputError(f"{source}: client {client!r}: {error}") from None
    return keys


def build(values: Mapping[str, Any]) -> ServeConfig:
    """Check the resolved settings together and read the files they name."""
    keys: dict[str, ClientKey] = {}
    if values["key_file"]:
        path = Path(values["key_file"])
        try:
            text = path.read_text()
        except OSError as error:
            raise InvalidInputError(f"cannot read key file {path}: {error.strerror}") from None
        keys.update(parse_keys(text, separator="\n", source=str(path)))
    if os.environ.get("CLOVE_KEYS"):
        for client, key in parse_keys(
            os.environ["CLOVE_KEYS"], separator=",", source="CLOVE_KEYS"
        ).items():
            keys.setdefault(client, key)
    if not keys:
        raise InvalidInputError(
            "no client keys: give --key-file FILE (one `client:scopes=key` a line) "
            "or CLOVE_KEYS=client:read+write=key,client2:read=key2"
        )
    if bool(values["tls_cert"]) != bool(values["tls_key"]):
        raise InvalidInputError("TLS needs both --tls-cert and --tls-key")
    tls_cert = _read_bytes(values["tls_cert"]) if values["tls_cert"] else None
    tls_key = _read_bytes(values["tls_key"]) if values["tls_key"] else None
    http_addr = (
        None if str(values["http_addr"]).lower() in ("off", "none", "") else values["http_addr"]
    )
    for address in (values["grpc_addr"], http_addr):
        if address is None:
            continue
        host = split_address(address)[0]
        if tls_cert is None and not values["insecure"] and not _is_loopback(host):
            raise InvalidInputError(
                f"refusing to serve plain gRPC/HTTP on {address}, which is not loopback: "
                "configure --tls-cert/--tls-key, or pass --insecure"
            )
    if http_addr is not None and split_address(http_addr) == split_address(values["grpc_addr"]):
        raise InvalidInputError(f"--grpc-addr and --http-addr are both {http_addr}")
    workers = values["workers"]
    return ServeConfig(
        db=values["db"],
        grpc_addr=values["grpc_addr"],
        http_addr=http_addr,
        workers=workers,
        keys=keys,
        tls_cert=tls_cert,
        tls_key=tls_key,
        limits=Limits(
            rate=values["rate_limit"],
            burst=values["burst"],
            concurrency=values["concurrency"],
            max_message_bytes=values["max_message_bytes"],
            max_batch=values["max_batch"],
            max_page=values["max_page"],
            max_depth=values["max_depth"],
            max_streams=values["max_streams"],
            cost_rate=values["cost_rate"],
            cost_burst=values["cost_burst"],
        ),
        gc_window=values["gc_window"],
        gc_interval=values["gc_interval"],
        max_caveat_cost=values["max_caveat_cost"],
        threads=values["threads"],
        read_timeout=values["read_timeout"],
        max_connections_per_peer=values["max_connections_per_peer"],
        grace=values["grace"],
        log_level=values["log_level"],
    )


def split_address(address: str) -> tuple[str, int]:
    host, colon, port = address.rpartition(":")
    if not colon or not port.isdigit():
        raise InvalidInputError(f"address {address!r} is not HOST:PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _read_bytes(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise InvalidInputError(f"cannot read {path}: {error.strerror}") from None
