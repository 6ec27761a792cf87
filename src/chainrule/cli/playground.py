"""`chainrule playground`: the browser playground, served from this machine."""

from __future__ import annotations

from typing import Annotated

import typer

from chainrule.checks import refuse
from chainrule.cli.options import strict_int
from chainrule.errors import ConfigError


def playground_command(
    host: Annotated[
        str, typer.Option(help="address to listen on; 0.0.0.0 lets other machines connect")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port", parser=strict_int)] = 8765,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="do not open the page in a browser")
    ] = False,
) -> None:
    """Train a network in the browser and click any weight to see its chain rule."""
    if not host or any(c.isspace() or c == "/" for c in host):
        raise refuse("", "--host", "an address such as 127.0.0.1 or 0.0.0.0", host)
    if not 1 <= port <= 65535:
        raise refuse("", "--port", "a TCP port from 1 to 65535", port)
    try:
        from chainrule.playground import serve
        from chainrule.playground.server import create_app  # noqa: F401 (needs starlette)
    except ImportError as err:
        raise ConfigError(
            f"the playground needs {err.name}, which is not installed; "
            f"pip install 'chainrule[playground]'"
        ) from None
    serve(host, port, open_browser=not no_browser)
