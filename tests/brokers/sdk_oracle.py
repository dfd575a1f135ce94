"""smartapi-python's SmartWebSocketV2 packet parser, loaded without its side effects.

``import SmartApi`` runs an HTTPS request with no timeout (``SmartConnect``'s class body) and the
``SmartWebSocketV2`` constructor creates ``./logs/<date>/app.log``. This module avoids both:

* it loads ``SmartApi/smartWebSocketV2.py`` by file path under a private module name, so the
  package ``__init__`` (and with it ``smartConnect``) never runs;
* it does so with every outbound connection and DNS lookup blocked, so a future SDK version that
  reaches out at import time fails loudly instead of touching the network;
* it never calls the constructor: the parser needs no instance state, so an instance is made with
  ``object.__new__``;
* it silences logzero's logger, which the SDK would otherwise use for error lines on stderr.

smartapi-python (with ``logzero`` and ``websocket-client``, which its wheel forgets to declare) is
a test dependency only.
"""

from __future__ import annotations

import importlib.util
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

_MODULE_NAME = "_cockpit_sdk_smart_websocket_v2"


class NetworkBlocked(RuntimeError):
    """Raised by any connection or DNS lookup attempted while the SDK module is being loaded."""


@contextmanager
def no_network() -> Iterator[None]:
    """Block socket connects and DNS lookups for the duration of the block."""

    def refuse(*args: object, **kwargs: object) -> Any:
        raise NetworkBlocked(f"network access attempted while loading the SDK: {args!r}")

    targets: list[tuple[Any, str]] = [
        (socket.socket, "connect"),
        (socket.socket, "connect_ex"),
        (socket, "create_connection"),
        (socket, "getaddrinfo"),
    ]
    saved = [(owner, name, getattr(owner, name)) for owner, name in targets]
    for owner, name in targets:
        setattr(owner, name, refuse)
    try:
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def _load_module() -> ModuleType:
    cached = sys.modules.get(_MODULE_NAME)
    if cached is not None:
        return cached
    package = importlib.util.find_spec("SmartApi")  # locates the package without running it
    if package is None or not package.submodule_search_locations:
        raise ImportError("smartapi-python is not installed (pip install smartapi-python)")
    path = Path(next(iter(package.submodule_search_locations))) / "smartWebSocketV2.py"
    spec = importlib.util.spec_from_file_location(_MODULE_NAME, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    with no_network():
        spec.loader.exec_module(module)
    module.logger.disabled = True
    sys.modules[_MODULE_NAME] = module
    return module


def load_sdk_parser() -> Callable[[bytes], dict[str, Any]]:
    """The SDK's ``SmartWebSocketV2._parse_binary_data`` bound to a constructor-less instance.

    Raises ``ImportError`` (with the reason) when smartapi-python or its undeclared dependencies
    are missing.
    """
    module = _load_module()
    cls = module.SmartWebSocketV2
    instance = object.__new__(cls)
    parse: Callable[[bytes], dict[str, Any]] = instance._parse_binary_data
    return parse
