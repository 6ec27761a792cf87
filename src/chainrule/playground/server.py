"""The playground's web server: a Starlette app of JSON routes, a Server-Sent Events stream of
training frames, and the page's static files.

Every request that touches a session runs in the thread pool (training is CPU work and must
not stall the event loop) under that session's lock. Every refused input is a 4xx JSON
`{"error": "..."}` that names the field; no path from the client reaches the file system
(only `static/` is served, by Starlette's StaticFiles).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from chainrule.checks import refuse
from chainrule.errors import ChainruleError, ConfigError, DivergedError
from chainrule.graph import graph
from chainrule.playground import config as settings
from chainrule.playground import datasets, export, views
from chainrule.playground.features import FEATURES
from chainrule.playground.session import Session
from chainrule.playground.store import SessionGoneError, SessionStore
from chainrule.tensor import Tensor

STATIC = Path(__file__).parent / "static"
MAX_BODY = settings.MAX_CSV_BYTES + 64 * 1024  # a CSV at the limit and its settings
MAX_STEPS = 1000  # batches per step request
MAX_FRAMES = 3600  # frames per stream (two minutes at 30 a second); the page opens another
MAX_FRAME_STEPS = 100
MAX_FPS = 60


class BodyTooLargeError(ChainruleError):
    """A request body over MAX_BODY."""


class JSON(JSONResponse):
    """JSON that a browser can parse: a NaN or infinity that slipped through becomes null."""

    def render(self, content: Any) -> bytes:
        return dumps(content).encode("utf-8")


def dumps(content: Any) -> str:
    try:
        return json.dumps(content, allow_nan=False, separators=(",", ":"))
    except ValueError:
        return json.dumps(_clean(content), allow_nan=False, separators=(",", ":"))


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def error(status: int, message: str) -> JSON:
    return JSON({"error": message}, status_code=status)


# ---- request parts -------------------------------------------------------------------------------


async def _body(request: Request) -> Any:
    """The JSON body, read up to MAX_BODY bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise BodyTooLargeError(_too_large(int(declared)))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise BodyTooLargeError(_too_large(size))
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks) or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"playground: the request body must be JSON, got {err}") from None


def _too_large(size: int) -> str:
    return (
        f"playground: the request body is over {MAX_BODY} bytes ({size} or more); csv must be "
        f"at most {settings.MAX_CSV_BYTES} bytes"
    )


def _count(request: Request, name: str, default: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not text.isdigit() or not 1 <= int(text) <= high:
        raise refuse(settings.OWNER, name, f"a whole number from 1 to {high}", text)
    return int(text)


# ---- the app -------------------------------------------------------------------------------------


def create_app(store: SessionStore | None = None) -> Starlette:
    """The playground as a Starlette app, its sessions in `store` (a new one by default)."""
    store = store if store is not None else SessionStore()

    async def locked(request: Request, work: Callable[[Session], Any]) -> Any:
        """`work(session)` in the thread pool, holding the session's lock."""
        entry = store.get(request.path_params["sid"])

        def run() -> Any:
            with entry.lock:
                return work(entry.session)

        return await run_in_threadpool(run)

    async def index(request: Request) -> Response:
        page = STATIC / "index.html"
        if not page.is_file():
            return error(404, "the page is not installed (playground/static/index.html)")
        return FileResponse(page)

    async def options(request: Request) -> Response:
        return JSON(
            {
                "datasets": {
                    "classification": list(datasets.CLASSIFICATION),
                    "regression": list(datasets.REGRESSION),
                },
                "features": list(FEATURES),
                "activations": settings.HIDDEN_ACTIVATIONS,
                "losses": settings.LOSS_NAMES,
                "optimizers": list(settings.OPTIMIZERS),
                "problems": list(settings.PROBLEMS),
                "limits": {
                    **settings.LIMITS,
                    "max_sessions": store.max_sessions,
                    "idle_minutes": store.idle / 60,
                    "max_steps": MAX_STEPS,
                    "max_frames": MAX_FRAMES,
                    "max_map": views.MAX_MAP,
                },
                "defaults": settings.Config().public(),
            }
        )

    async def create(request: Request) -> Response:
        config = settings.parse(await _body(request))
        session = await run_in_threadpool(Session, config)
        return JSON({"id": store.add(session)}, status_code=201)

    async def show(request: Request) -> Response:
        return JSON(await locked(request, _described))

    async def delete(request: Request) -> Response:
        store.remove(request.path_params["sid"])
        return Response(status_code=204)

    async def step(request: Request) -> Response:
        steps = _count(request, "steps", 1, MAX_STEPS)

        def work(session: Session) -> dict[str, Any]:
            session.train_batches(steps)
            return session.state()

        return JSON(await locked(request, work))

    async def reset(request: Request) -> Response:
        def work(session: Session) -> dict[str, Any]:
            session.reset()
            return session.state()

        return JSON(await locked(request, work))

    async def weight(request: Request) -> Response:
        body = await _body(request)
        if not isinstance(body, dict):
            raise refuse(settings.OWNER, "the request body", "a JSON object", body)
        missing = [key for key in ("layer", "j", "k", "value") if key not in body]
        if missing:
            raise refuse(settings.OWNER, missing[0], "given", None)

        def work(session: Session) -> dict[str, Any]:
            session.set_weight(body["layer"], body["j"], body["k"], body["value"])
            return session.state()

        return JSON(await locked(request, work))

    def view(make: Callable[[Session, Request], Any]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            return JSON(await locked(request, lambda s: make(s, request)))

        return endpoint

    def q(request: Request, name: str) -> str | None:
        return request.query_params.get(name)

    async def stream(request: Request) -> Response:
        steps = _count(request, "steps", 10, MAX_FRAME_STEPS)
        frames = _count(request, "frames", 600, MAX_FRAMES)
        fps = _count(request, "fps", 30, MAX_FPS)
        size = _count(request, "size", 64, views.MAX_MAP)
        store.get(request.path_params["sid"])  # a bad id is a 4xx before the stream starts
        return StreamingResponse(
            _frames(request, locked, steps, frames, 1 / fps, size),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def export_model(request: Request) -> Response:
        data = await locked(request, export.model_file)
        disposition = 'attachment; filename="playground.model"'
        return Response(data, media_type="application/octet-stream", headers=_cd(disposition))

    async def export_data(request: Request) -> Response:
        split = q(request, "split")
        text = await locked(request, lambda s: export.rows_csv(s, split))
        name = f"playground-{split or 'test'}.csv"
        return Response(text, media_type="text/csv", headers=_cd(f'attachment; filename="{name}"'))

    async def export_script(request: Request) -> Response:
        text = await locked(request, export.script)
        disposition = 'attachment; filename="playground_run.py"'
        return Response(text, media_type="text/x-python", headers=_cd(disposition))

    async def loss_graph(request: Request) -> Response:
        example, direction = q(request, "example") or "0", q(request, "direction") or "right"
        drawing = await locked(request, lambda s: _loss_graph(s, example, direction))
        return Response(drawing, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})

    sid = "/api/sessions/{sid}"
    routes = [
        Route("/", index),
        Route("/api/options", options),
        Route("/api/sessions", create, methods=["POST"]),
        Route(sid, show, methods=["GET"]),
        Route(sid, delete, methods=["DELETE"]),
        Route(f"{sid}/step", step, methods=["POST"]),
        Route(f"{sid}/reset", reset, methods=["POST"]),
        Route(f"{sid}/weight", weight, methods=["PATCH"]),
        Route(f"{sid}/stream", stream),
        Route(f"{sid}/data", view(lambda s, r: views.points(s))),
        Route(f"{sid}/maps", view(lambda s, r: views.maps(s, q(r, "size") or 64))),
        Route(f"{sid}/confusion", view(lambda s, r: views.confusion(s, q(r, "split")))),
        Route(
            f"{sid}/explain",
            view(
                lambda s, r: views.explain(s, q(r, "layer"), q(r, "j"), q(r, "k"), q(r, "example"))
            ),
        ),
        Route(f"{sid}/gradients", view(lambda s, r: views.gradients(s, q(r, "example")))),
        Route(f"{sid}/backprop", view(lambda s, r: views.backprop(s, q(r, "example")))),
        Route(f"{sid}/graph", loss_graph),
        Route(f"{sid}/export/model", export_model),
        Route(f"{sid}/export/data", export_data),
        Route(f"{sid}/export/script", export_script),
        Mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static"),
    ]
    return Starlette(routes=routes, exception_handlers=_handlers())


def _cd(disposition: str) -> dict[str, str]:
    return {"Content-Disposition": disposition, "Cache-Control": "no-store"}


def _described(session: Session) -> dict[str, Any]:
    """The config as applied, what the data is, and the state."""
    return {
        **session.state(),
        "config": session.config.public(),
        "problem": session.problem,
        "features": session.features,
        "inputs": session.inputs,
        "classes": session.classes,
    }


def _loss_graph(session: Session, example: str, direction: str) -> str:
    """`cr.plot.graph` of the loss C on `example` as SVG, drawn after backward() so every
    parameter shows ∂C/∂w; the grads are zeroed afterwards, as the gradients view does, so
    drawing never changes training."""
    x, y = session.rows(example)
    model = session.model
    model.zero_grad()
    try:
        loss = session.loss(model(Tensor(x)), y)
        loss.backward()
        return graph(loss, dict(model.named_parameters()), direction=direction).svg
    finally:
        model.zero_grad()


async def _frames(
    request: Request, locked: Any, steps: int, frames: int, interval: float, size: int
) -> AsyncIterator[str]:
    """`frames` events of training `steps` batches each, then an "end" event. A frame holds
    the state (its history only the newest point) and the maps; the stream stops early when
    the client goes away or training diverges."""
    reason = "frames"
    for _ in range(frames):
        started = time.monotonic()
        if await request.is_disconnected():
            return
        try:
            frame = await locked(request, lambda s: _frame(s, steps, size))
        except (ChainruleError, SessionGoneError) as err:
            yield f"event: error\ndata: {dumps({'error': str(err)})}\n\n"
            reason = "error"
            break
        yield f"data: {dumps(frame)}\n\n"
        await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
    yield f"event: end\ndata: {dumps({'reason': reason})}\n\n"


def _frame(session: Session, steps: int, size: int) -> dict[str, Any]:
    session.train_batches(steps)
    state = session.state()
    state["history"] = {key: values[-1:] for key, values in state["history"].items()}
    state["maps"] = views.maps(session, size)
    return state


def _handlers() -> dict[Any, Callable[..., Any]]:
    async def refused(request: Request, err: Exception) -> Response:
        return error(400, str(err))

    async def gone(request: Request, err: Exception) -> Response:
        return error(err.status if isinstance(err, SessionGoneError) else 404, str(err))

    async def diverged(request: Request, err: Exception) -> Response:
        return error(409, str(err))

    async def too_large(request: Request, err: Exception) -> Response:
        return error(413, str(err))

    async def http(request: Request, err: Exception) -> Response:
        assert isinstance(err, HTTPException)
        return error(err.status_code, f"{request.method} {request.url.path}: {err.detail}")

    async def bug(request: Request, err: Exception) -> Response:
        return error(500, f"internal error: {type(err).__name__}: {err}")

    return {
        SessionGoneError: gone,
        DivergedError: diverged,
        BodyTooLargeError: too_large,
        ChainruleError: refused,
        HTTPException: http,
        Exception: bug,
    }
