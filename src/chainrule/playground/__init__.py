"""The browser playground: TensorFlow Playground on chainrule's engine, where any weight can be
clicked to see its chain rule.

`serve()` runs the server until Ctrl-C (what `chainrule playground` calls); `playground()`
starts the same server in a background thread for a notebook and shows the page inline.
Needs the optional extra: pip install 'chainrule[playground]'.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
import webbrowser
from types import ModuleType
from typing import Any

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _server(host: str, port: int) -> Any:
    import uvicorn

    from chainrule.playground.server import create_app

    config = uvicorn.Config(create_app(), host=host, port=port, log_level="warning")
    return uvicorn.Server(config)


def warning_for(host: str) -> str | None:
    """What to tell the user when the server is reachable from other machines."""
    if host in LOOPBACK:
        return None
    return (
        f"warning: the playground listens on {host}, so other machines on the network can "
        f"reach it; it has no login. Use --host 127.0.0.1 unless the whole room should connect."
    )


def url_for(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"http://{shown}:{port}/"


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, open_browser: bool = True) -> None:
    """Run the playground's server on host:port until interrupted; open the page first."""
    message = warning_for(host)
    if message:
        print(message)
    url = url_for(host, port)
    print(f"chainrule playground: {url} (Ctrl-C stops it)", flush=True)
    server = _server(host, port)
    if open_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl-C it ended on
        server.run()
    print("chainrule playground: stopped")


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port nothing listens on now (the system picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class Playground:
    """A playground server running in a background daemon thread; shown in Jupyter as the
    page in an iframe. `stop()` ends it."""

    def __init__(self, host: str, port: int, server: Any, thread: threading.Thread) -> None:
        self.host, self.port = host, port
        self.url = url_for(host, port)
        self._server, self._thread = server, thread

    def _repr_html_(self) -> str:
        return (
            f'<iframe src="{self.url}" width="100%" height="760" '
            f'style="border: 1px solid #ccc" title="chainrule playground"></iframe>'
        )

    def __repr__(self) -> str:
        state = "running" if self._thread.is_alive() else "stopped"
        return f"Playground({self.url}, {state})"

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the server to exit and wait for its thread (at most `timeout` seconds)."""
        self._server.should_exit = True
        self._thread.join(timeout)


def playground(port: int | None = None, timeout: float = 10.0) -> Playground:
    """Start the playground on 127.0.0.1 (a free port unless `port` is given) in a daemon
    thread and return it; in Jupyter it shows the page inline. Call `.stop()` to end it."""
    host = DEFAULT_HOST
    port = port if port is not None else free_port(host)
    server = _server(host, port)
    server.install_signal_handlers = lambda: None  # not the main thread
    thread = threading.Thread(target=server.run, name="chainrule-playground", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the playground server did not start on {host}:{port}")
        time.sleep(0.02)
    return Playground(host, port, server, thread)


__all__ = ["Playground", "free_port", "playground", "serve"]


class _Callable(ModuleType):
    """`cr.playground()` starts it: Python binds `chainrule.playground` to this module once it is
    imported, so the module itself answers the call rather than a function of that name."""

    def __call__(self, port: int | None = None, timeout: float = 10.0) -> Playground:
        return playground(port, timeout)


sys.modules[__name__].__class__ = _Callable
