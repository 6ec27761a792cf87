"""The playground's JSON API (issue 11's contract), through Starlette's TestClient.

What is proved: every route answers with the contract's keys; training on circle, xor and a
three-class CSV lowers the loss; explain's numbers are `cr.explain`'s on a model rebuilt from
the weights the API returned; every bad input is a 4xx JSON error naming its field (never a
500); sessions are evicted and expire with a message saying so (a fake clock, no sleeping);
the event stream ends by itself; the exported model and CSV pass `chainrule evaluate`, and the
exported script repeats the run to the same loss. Servers bind 127.0.0.1 and stop by themselves.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pytest

starlette = pytest.importorskip(
    "starlette", reason="the playground needs starlette: pip install 'chainrule[playground]'"
)
httpx = pytest.importorskip("httpx", reason="Starlette's TestClient needs httpx")

with warnings.catch_warnings():  # Starlette 1.x prefers httpx2 but still runs on httpx
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

import chainrule as cr  # noqa: E402
from chainrule.cli import main  # noqa: E402
from chainrule.playground import config as settings  # noqa: E402
from chainrule.playground import free_port, playground, warning_for  # noqa: E402
from chainrule.playground.server import MAX_BODY, create_app  # noqa: E402
from chainrule.playground.store import SessionStore  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

STATE_KEYS = {"epoch", "step", "train_loss", "test_loss", "layers"}
EXPLAIN_KEYS = {"value", "autodiff", "numeric", "agree", "text", "latex"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store():
    return SessionStore(max_sessions=8, idle=600, clock=Clock())


@pytest.fixture
def client(store):
    with TestClient(create_app(store), raise_server_exceptions=False) as c:
        yield c


def new(client, **config) -> str:
    r = client.post("/api/sessions", json=config)
    assert r.status_code == 201, r.text
    assert set(r.json()) == {"id"}
    return r.json()["id"]


def blobs_csv(rows: int = 150, seed: int = 0) -> str:
    g = np.random.default_rng(seed)
    names = ["red", "green", "blue"]
    centres = np.array([[-3.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    lines = ["width,height,colour"]
    for i in range(rows):
        x = centres[i % 3] + g.normal(0, 0.8, 2)
        lines.append(f"{x[0]:.5f},{x[1]:.5f},{names[i % 3]}")
    return "\n".join(lines) + "\n"


# ---- the routes and their keys -------------------------------------------------------------------


def test_options_lists_every_choice_and_limit(client):
    r = client.get("/api/options")
    assert r.status_code == 200
    body = r.json()
    assert body["datasets"] == {
        "classification": ["circle", "xor", "gauss", "spiral", "moons", "blobs", "and", "or"],
        "regression": ["plane", "bump"],
    }
    assert body["features"] == ["x1", "x2", "x1^2", "x2^2", "x1x2", "sin_x1", "sin_x2"]
    assert body["optimizers"] == ["sgd", "momentum", "adam"]
    assert set(body["losses"]) == {"auto", *cr.nn.LOSSES}
    assert "softmax" not in body["activations"] and "tanh" in body["activations"]
    assert body["limits"]["max_hidden_layers"] == 6 and body["limits"]["max_neurons"] == 8
    assert body["limits"]["max_sessions"] == 8
    assert body["defaults"]["features"] == ["x1", "x2"]


def test_step_returns_the_contracts_state_with_the_lectures_weight_layout(client, store):
    sid = new(client, dataset="xor", hidden=[3, 2], seed=4)
    r = client.post(f"/api/sessions/{sid}/step?steps=5")
    assert r.status_code == 200
    state = r.json()
    assert set(state) >= STATE_KEYS
    assert state["step"] == 5
    model = store.get(sid).session.model
    linears = [m for m in model if isinstance(m, cr.nn.Linear)]
    assert len(state["layers"]) == len(linears) == 3
    for layer, linear in zip(state["layers"], linears, strict=True):
        # layers[l-1].weight[j][k] is w_jk^(l): row j a neuron of layer l, column k one of l-1
        assert np.array_equal(np.array(layer["weight"]), linear.weight.data)
        assert np.array_equal(np.array(layer["bias"]), linear.bias.data)
    assert [len(w["weight"]) for w in state["layers"]] == [3, 2, 2]
    assert [len(w["weight"][0]) for w in state["layers"]] == [2, 3, 2]


def test_every_read_route_answers(client):
    sid = new(client, dataset="moons", hidden=[4], features=["x1", "x2", "x1x2"])
    base = f"/api/sessions/{sid}"
    got = client.get(base).json()
    assert got["config"]["features"] == ["x1", "x2", "x1x2"] and got["config"]["loss"] == "ce"
    data = client.get(f"{base}/data").json()
    assert data["inputs"] == ["x1", "x2"] and data["classes"] == ["0", "1"]
    assert len(data["train"]["x"]) + len(data["test"]["x"]) == 400
    maps = client.get(f"{base}/maps?size=8").json()
    assert maps["size"] == 8 and len(maps["output"]) == 64 and len(maps["extent"]) == 4
    assert [len(layer) for layer in maps["neurons"]] == [4, 2]
    m = maps["neuron_size"]
    assert all(len(cell) == m * m for layer in maps["neurons"] for cell in layer)
    assert len(maps["features"]) == 3
    assert all(0.0 <= p <= 1.0 for p in maps["output"])  # P(class 1)
    confusion = client.get(f"{base}/confusion?split=train").json()
    assert sum(map(sum, confusion["matrix"])) == len(data["train"]["x"])
    assert client.get(f"{base}/gradients?example=batch").status_code == 200
    assert client.get(f"{base}/backprop?example=1").status_code == 200
    assert client.get(f"{base}/export/script").headers["content-type"].startswith("text/x-python")


def test_reset_edit_and_delete(client):
    sid = new(client, dataset="gauss", seed=3)
    base = f"/api/sessions/{sid}"
    first = client.get(base).json()["layers"]
    client.post(f"{base}/step?steps=20")
    assert client.post(f"{base}/reset").json()["layers"] == first
    edited = client.patch(f"{base}/weight", json={"layer": 2, "j": 1, "k": 0, "value": 0.25})
    assert edited.json()["layers"][1]["weight"][1][0] == 0.25
    edited = client.patch(f"{base}/weight", json={"layer": 1, "j": 3, "k": "bias", "value": -2})
    assert edited.json()["layers"][0]["bias"][3] == -2
    assert client.delete(base).status_code == 204
    gone = client.get(base)
    assert gone.status_code == 410 and "deleted" in gone.json()["error"]


def test_the_page_and_only_static_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert client.get("/static/vendor/katex/katex.min.js").status_code == 200
    for path in ("/static/../server.py", "/static/%2e%2e/server.py", "/static//etc/passwd"):
        r = client.get(path)
        assert r.status_code == 404, path


# ---- training ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        {"dataset": "circle", "hidden": [6, 4], "optimizer": "adam", "lr": 0.03},
        {"dataset": "xor", "hidden": [4], "optimizer": "momentum", "lr": 0.1},
        {"dataset": "plane", "hidden": [], "lr": 0.05},
    ],
)
def test_training_lowers_the_loss(client, config):
    sid = new(client, **config)
    start = client.get(f"/api/sessions/{sid}").json()
    end = client.post(f"/api/sessions/{sid}/step?steps=400").json()
    assert end["train_loss"] < 0.5 * start["train_loss"]
    assert end["test_loss"] < 0.5 * start["test_loss"]
    assert end["epoch"] == 400 * 10 // 200 and end["history"]["step"] == [0, 400]
    if config["dataset"] != "plane":
        assert end["test_accuracy"] > 0.9


def test_a_three_class_csv_trains_and_keeps_its_class_names(client):
    sid = new(client, dataset="csv", csv=blobs_csv(), hidden=[5], optimizer="adam", lr=0.05)
    got = client.get(f"/api/sessions/{sid}").json()
    assert got["classes"] == ["blue", "green", "red"] and got["inputs"] == ["width", "height"]
    assert got["config"]["features"] == ["width", "height"] and "csv" not in got["config"]
    assert len(got["layers"][-1]["bias"]) == 3
    end = client.post(f"/api/sessions/{sid}/step?steps=150").json()
    assert end["train_loss"] < 0.3 * got["train_loss"] and end["test_accuracy"] > 0.9
    confusion = client.get(f"/api/sessions/{sid}/confusion").json()
    assert np.array(confusion["matrix"]).shape == (3, 3)
    assert client.get(f"/api/sessions/{sid}/maps?size=4").json()["size"] == 4


def test_regularisation_shrinks_weights_to_zero(client):
    sid = new(client, dataset="gauss", hidden=[8], l1=0.3, lr=0.1)
    layers = client.post(f"/api/sessions/{sid}/step?steps=100").json()["layers"]
    weights = np.concatenate([np.ravel(layer["weight"]) for layer in layers])
    assert np.count_nonzero(weights == 0.0) > len(weights) // 2


# ---- the chain rule ------------------------------------------------------------------------------


def rebuilt(state: dict, activation: str, output: str | None) -> cr.nn.Sequential:
    """The session's network rebuilt from nothing but the weights the API returned."""
    sizes = [len(state["layers"][0]["weight"][0])] + [len(x["bias"]) for x in state["layers"]]
    model = cr.nn.mlp(sizes, activation, output)
    weights = {}
    for l, layer in enumerate(state["layers"]):
        weights[f"{2 * l}.weight"] = np.array(layer["weight"])
        weights[f"{2 * l}.bias"] = np.array(layer["bias"])
    model.load_state_dict(weights)
    return model


@pytest.mark.parametrize(
    ("layer", "j", "k", "example"),
    [(1, 0, 1, 5), (1, 2, "bias", 0), (2, 1, 0, 17), (3, 1, 2, 3), (3, 0, "bias", "batch")],
)
def test_explain_is_cr_explain_on_the_sessions_weights(client, store, layer, j, k, example):
    sid = new(client, dataset="spiral", hidden=[3, 3], activation="sigmoid", seed=2)
    state = client.post(f"/api/sessions/{sid}/step?steps=30").json()
    query = f"layer={layer}&j={j}&k={k}&example={example}"
    got = client.get(f"/api/sessions/{sid}/explain?{query}").json()
    assert set(got) >= EXPLAIN_KEYS and got["agree"] == "yes"
    train = store.get(sid).session.train  # the network's input rows: the features, standardised
    x, y = (train.x, train.y) if example == "batch" else (train.x[example], train.y[example])
    model = rebuilt(state, "sigmoid", None)
    e = cr.explain(model, x, y, "ce", layer, j, None if k == "bias" else k)
    assert got["value"] == pytest.approx(e.value, rel=1e-12, abs=1e-15)
    assert got["autodiff"] == pytest.approx(e.autodiff, rel=1e-12, abs=1e-15)
    assert got["numeric"] == pytest.approx(e.numeric, rel=1e-9, abs=1e-12)
    assert got["text"] == str(e)
    assert got["latex"].startswith(r"\begin{aligned}")


def test_gradients_and_backprop_are_one_examples_autodiff(client):
    sid = new(client, dataset="circle", hidden=[4, 3], seed=1)
    base = f"/api/sessions/{sid}"
    client.post(f"{base}/step?steps=10")
    grads = client.get(f"{base}/gradients?example=7").json()
    walk = client.get(f"{base}/backprop?example=7").json()
    assert [u["layer"] for u in walk["updates"]] == [3, 2, 1]
    assert [b["layer"] for b in walk["backward"]] == [3, 2, 1]
    assert [f["layer"] for f in walk["forward"]] == [1, 2, 3]
    for update in walk["updates"]:
        l = update["layer"]
        assert update["weight_grad"] == grads["layers"][l - 1]["weight"]
        assert np.allclose(update["weight_change"], -0.03 * np.array(update["weight_grad"]))
        ex = client.get(f"{base}/explain?layer={l}&j=0&k=1&example=7").json()
        assert ex["autodiff"] == pytest.approx(update["weight_grad"][0][1], rel=1e-12)
    # at the output, cross-entropy's δ = ∂C/∂z = p − y
    z = np.array(walk["forward"][-1]["z"])
    p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    assert np.allclose(walk["backward"][0]["delta"], p - np.eye(2)[int(walk["y"])])
    health = grads["health"]
    assert health["verdict"] and [h["layer"] for h in health["layers"]] == [1, 2, 3]
    # the page shows gradient_health's own sentence, judged with the session's SGD lr (0.03)
    assert health["verdict"].split(":")[0] in {
        "healthy",
        "vanishing",
        "exploding",
        "dead",
        "saturated",
        "stuck",
    }
    for h in health["layers"]:
        assert h["update_ratio"] == pytest.approx(0.03 * h["norm"] / h["weight_norm"], rel=1e-9)
    assert {h["status"] for h in health["layers"]} <= {
        "ok",
        "vanishing",
        "exploding",
        "dead",
        "saturated",
    }


# ---- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("example", "direction"), [(5, "right"), (0, "down")])
def test_graph_is_cr_plot_graph_of_one_examples_loss(client, store, example, direction):
    sid = new(client, dataset="circle", hidden=[3, 2], seed=4)
    state = client.post(f"/api/sessions/{sid}/step?steps=20").json()
    query = f"example={example}&direction={direction}" if example else "direction=down"
    r = client.get(f"/api/sessions/{sid}/graph?{query}")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(r.text)
    assert root.tag.endswith("svg")
    # the same drawing from nothing but the weights the API returned
    train = store.get(sid).session.train
    model = rebuilt(state, "tanh", None)
    loss = cr.nn.CrossEntropyLoss()(
        model(cr.tensor(train.x[example : example + 1])), train.y[example : example + 1]
    )
    loss.backward()
    drawn = cr.plot.graph(loss, dict(model.named_parameters()), direction=direction)
    assert r.text == drawn.svg
    labels = ET.tostring(root, encoding="unicode")
    for name, _ in model.named_parameters():  # every parameter's box, with its gradient
        assert name in labels
    assert "grad" in labels
    # a view: the session's grads are zeroed and its weights unchanged
    assert all(
        p.grad is None or not p.grad.any() for p in store.get(sid).session.model.parameters()
    )
    assert client.get(f"/api/sessions/{sid}").json()["layers"] == state["layers"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("example=100000", "example"),
        ("example=x", "example"),
        ("example=-1", "example"),
        ("direction=up", "direction"),
    ],
)
def test_a_bad_graph_query_is_a_4xx_naming_its_field(client, query, field):
    sid = new(client, dataset="and", hidden=[2])
    refused(client.get(f"/api/sessions/{sid}/graph?{query}"), field)


def refused(r, field: str, status: int = 400) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert field in r.json()["error"], r.json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"n": ', "body"),
        ("not json at all", "body"),
        ("[1, 2]", "body"),
        ('{"lr": NaN}', "lr"),
        ('{"noise": Infinity}', "noise"),
        ('{"hidden": [8, 8, 8, 8, 8, 8, 8]}', "hidden"),
        ('{"hidden": [1000000]}', "hidden"),
        ('{"hidden": [0]}', "hidden"),
        ('{"hidden": 3}', "hidden"),
        ('{"n": 10000000}', "n"),
        ('{"n": true}', "n"),
        ('{"dataset": "mnist"}', "dataset"),
        ('{"dataset": "/etc/passwd"}', "dataset"),
        ('{"features": ["x3"]}', "features"),
        ('{"features": []}', "features"),
        ('{"activation": "softmax"}', "activation"),
        ('{"loss": "hinge"}', "loss"),
        ('{"dataset": "plane", "loss": "ce"}', "loss"),
        ('{"optimizer": "lbfgs"}', "optimizer"),
        ('{"lr": -1}', "lr"),
        ('{"lr": 1e9}', "lr"),
        ('{"batch_size": 0}', "batch_size"),
        ('{"train_ratio": 1}', "train_ratio"),
        ('{"l1": -0.1}', "l1"),
        ('{"problem": "regression"}', "problem"),
        ('{"seed": -1}', "seed"),
        ('{"path": "/etc/passwd"}', "path"),
        ('{"dataset": "csv"}', "csv"),
        ('{"csv": "a,b\\n1,2\\n"}', "csv"),
        ('{"dataset": "csv", "csv": "a,b\\n1,x\\n2,x\\n3,x\\n4,x\\n"}', "upload.csv"),
        ('{"dataset": "csv", "csv": "a,b\\n1,2,3\\n"}', "line 2"),
        ('{"dataset": "csv", "csv": "a,b\\nq,1\\n2,0\\n3,1\\n4,0\\n"}', "column 'a'"),
    ],
)
def test_a_bad_config_is_a_4xx_naming_its_field(client, body, field):
    r = client.post("/api/sessions", content=body, headers={"content-type": "application/json"})
    refused(r, field)


def test_a_csv_over_the_limit_is_refused(client):
    row = "1.000000000,2.000000000,a\n"  # JSON writes \n as two characters
    just_over = "x,y,c\n" + row * (settings.MAX_CSV_BYTES // len(row))
    refused(client.post("/api/sessions", json={"dataset": "csv", "csv": just_over}), "csv")
    body = json.dumps({"dataset": "csv", "csv": "x" * (MAX_BODY + 10)})
    refused(client.post("/api/sessions", content=body), "csv", 413)


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("post", "/step?steps=0", "steps"),
        ("post", "/step?steps=abc", "steps"),
        ("post", "/step?steps=1000000", "steps"),
        ("get", "/explain?layer=9&j=0&k=0&example=0", "layer"),
        ("get", "/explain?layer=1&j=-1&k=0&example=0", "j"),
        ("get", "/explain?layer=1&j=0&k=weight&example=0", "k"),
        ("get", "/explain?layer=1&j=0&k=0&example=100000", "example"),
        ("get", "/explain?j=0&k=0", "layer"),
        ("get", "/maps?size=100000", "size"),
        ("get", "/confusion?split=all", "split"),
        ("get", "/backprop?example=batch", "example"),
        ("get", "/gradients?example=x", "example"),
        ("get", "/export/data?split=../../etc", "split"),
        ("get", "/stream?frames=0", "frames"),
        ("get", "/stream?steps=1000", "steps"),
    ],
)
def test_a_bad_query_is_a_4xx_naming_its_field(client, method, path, field):
    sid = new(client, dataset="and", hidden=[2])
    refused(getattr(client, method)(f"/api/sessions/{sid}{path}"), field)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"layer": 1, "j": 0, "k": 0, "value": "NaN"}, "value"),
        ({"layer": 1, "j": 0, "k": 0, "value": float("inf")}, "value"),
        ({"layer": 7, "j": 0, "k": 0, "value": 1}, "layer"),
        ({"layer": 1, "j": 5, "k": 0, "value": 1}, "j"),
        ({"layer": 1, "j": 0, "k": 2, "value": 1}, "k"),
        ({"layer": 1, "j": 0, "k": True, "value": 1}, "k"),
        ({"layer": 1, "j": 0, "value": 1}, "k"),
    ],
)
def test_a_bad_weight_edit_is_a_4xx_naming_its_field(client, body, field):
    sid = new(client, dataset="or", hidden=[2])
    content = json.dumps(body)  # json.dumps writes inf as Infinity, as a careless client might
    refused(client.patch(f"/api/sessions/{sid}/weight", content=content), field)


def test_bad_ids_unknown_routes_and_methods_are_4xx_json(client):
    for path in ("/api/sessions/nope", "/api/sessions/nope/maps", "/api/sessions/" + "x" * 500):
        refused(client.get(path), "no session", 404)
    refused(client.post("/api/sessions/nope/step"), "no session", 404)
    refused(client.get("/api/sessions/nope/stream"), "no session", 404)
    refused(client.get("/api/nothing"), "Not Found", 404)
    refused(client.delete("/api/options"), "Method Not Allowed", 405)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy on the way to inf: the point
def test_divergence_is_a_409_that_says_what_to_do(client):
    sid = new(client, dataset="plane", hidden=[8, 8], lr=10, optimizer="sgd")
    r = client.post(f"/api/sessions/{sid}/step?steps=200")
    refused(r, "lower lr", 409)
    assert client.get(f"/api/sessions/{sid}").status_code == 200  # NaN weights travel as null


def test_no_input_makes_a_500(client):
    sid = new(client, dataset="blobs", hidden=[3])
    junk = ["", "-1", "1e400", "nan", "%00", "[]", "{}", "1.5", "bias", "batch", "∂"]
    routes = [
        "explain",
        "gradients",
        "backprop",
        "graph",
        "maps",
        "confusion",
        "export/data",
        "step",
    ]
    for route in routes:
        for value in junk:
            keys = ("layer", "j", "k", "example", "size", "split")
            query = "&".join(f"{k}={value}" for k in keys)
            method = client.post if route == "step" else client.get
            r = method(f"/api/sessions/{sid}/{route}?{query}&steps={value}")
            assert r.status_code < 500, (route, value, r.text)
    for body in ["null", "1", '"x"', '{"hidden": [1.5]}', '{"features": [[1]]}', '{"seed": 1e99}']:
        assert client.post("/api/sessions", content=body).status_code < 500, body


# ---- sessions come and go ------------------------------------------------------------------------


def test_the_least_recently_used_session_is_evicted_with_a_message(client, store):
    store.max_sessions = 2
    a, b = new(client, hidden=[1]), new(client, hidden=[1])
    client.get(f"/api/sessions/{a}")  # a is now used more recently than b
    c = new(client, hidden=[1])
    r = client.get(f"/api/sessions/{b}")
    refused(r, "evicted", 410)
    assert "at most 2 sessions" in r.json()["error"]
    assert client.get(f"/api/sessions/{a}").status_code == 200
    assert client.get(f"/api/sessions/{c}").status_code == 200


def test_an_idle_session_expires_with_a_message(client, store):
    sid, other = new(client, hidden=[1]), new(client, hidden=[1])
    store.clock.now += 400
    client.get(f"/api/sessions/{other}")
    store.clock.now += 300  # sid idle 700 s > 600 s; other idle 300 s
    refused(client.get(f"/api/sessions/{sid}"), "expired after 10 minutes idle", 410)
    assert client.get(f"/api/sessions/{other}").status_code == 200
    assert len(store) == 1


# ---- the stream ----------------------------------------------------------------------------------


def events(text: str) -> list[tuple[str, dict]]:
    found = []
    for block in text.strip().split("\n\n"):
        kind = re.search(r"^event: (\w+)$", block, re.M)
        data = re.search(r"^data: (.*)$", block, re.M)
        found.append((kind.group(1) if kind else "frame", json.loads(data.group(1))))
    return found


def test_the_stream_sends_bounded_frames_and_ends_by_itself(client):
    sid = new(client, dataset="circle", hidden=[4])
    with client.stream("GET", f"/api/sessions/{sid}/stream?frames=4&steps=3&size=6&fps=60") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        got = events("".join(r.iter_text()))
    assert [kind for kind, _ in got] == ["frame"] * 4 + ["end"]
    frames = [frame for _, frame in got[:4]]
    assert [f["step"] for f in frames] == [3, 6, 9, 12]
    assert all(set(f) >= STATE_KEYS and len(f["maps"]["output"]) == 36 for f in frames)
    assert all(f["history"]["step"] == [f["step"]] for f in frames)  # only the newest point
    assert got[-1][1] == {"reason": "frames"}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy on the way to inf: the point
def test_the_stream_reports_divergence_and_ends(client):
    sid = new(client, dataset="plane", hidden=[8, 8], lr=10)
    with client.stream("GET", f"/api/sessions/{sid}/stream?frames=50&steps=100&fps=60") as r:
        got = events("".join(r.iter_text()))
    assert got[-2][0] == "error" and "diverged" in got[-2][1]["error"]
    assert got[-1] == ("end", {"reason": "error"})


# ---- exports -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        {"dataset": "circle", "hidden": [4, 2], "features": ["x1", "x2", "x1^2", "sin_x2"]},
        {"dataset": "csv", "csv": blobs_csv(), "hidden": [4], "optimizer": "adam"},
        {"dataset": "bump", "hidden": [6], "loss": "mse"},
    ],
)
def test_the_exported_model_and_rows_pass_chainrule_evaluate(client, tmp_path, capsys, config):
    sid = new(client, **config)
    state = client.post(f"/api/sessions/{sid}/step?steps=60").json()
    model = client.get(f"/api/sessions/{sid}/export/model")
    assert model.headers["content-type"] == "application/octet-stream"
    assert "playground.model" in model.headers["content-disposition"]
    (tmp_path / "playground.model").write_bytes(model.content)
    rows = client.get(f"/api/sessions/{sid}/export/data?split=test")
    assert rows.headers["content-type"].startswith("text/csv")
    (tmp_path / "test.csv").write_text(rows.text)
    code = main(
        ["evaluate", str(tmp_path / "playground.model"), "--data", str(tmp_path / "test.csv")]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    loss = float(re.search(r"loss \(\w+\): (\S+)", out).group(1))
    assert loss == pytest.approx(state["test_loss"], rel=1e-3)
    if state["test_accuracy"] is not None:
        shown = float(re.search(r"accuracy: ([\d.]+)%", out).group(1))
        assert shown == pytest.approx(100 * state["test_accuracy"], abs=0.05)


@pytest.mark.parametrize(
    "config",
    [
        {"dataset": "xor", "hidden": [3], "optimizer": "momentum", "l2": 0.01, "batch_size": 7},
        {"dataset": "csv", "csv": blobs_csv(60), "hidden": [2, 2], "optimizer": "adam", "l1": 1e-3},
    ],
)
def test_the_exported_script_repeats_the_run(client, tmp_path, config):
    sid = new(client, **config)
    state = client.post(f"/api/sessions/{sid}/step?steps=45").json()
    script = tmp_path / "run.py"
    script.write_text(client.get(f"/api/sessions/{sid}/export/script").text)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    printed = float(re.search(r"train loss (\S+)", done.stdout).group(1))
    assert printed == pytest.approx(state["train_loss"], rel=1e-12)
    assert printed < client.post(f"/api/sessions/{sid}/reset").json()["train_loss"]


# ---- real servers --------------------------------------------------------------------------------


def wait_for(url: str, deadline: float) -> httpx.Response:
    while True:
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_the_cli_serves_the_api_on_a_real_uvicorn():
    port = free_port()
    command = [sys.executable, "-m", "chainrule.cli", "playground", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        r = wait_for(f"http://127.0.0.1:{port}/api/options", time.monotonic() + 30)
        assert r.status_code == 200 and "circle" in r.json()["datasets"]["classification"]
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    assert f"http://127.0.0.1:{port}/" in out and "warning" not in out
    assert proc.returncode == 0, err


def test_only_a_non_loopback_host_gets_a_warning():
    assert warning_for("127.0.0.1") is None and warning_for("localhost") is None
    assert "other machines" in warning_for("0.0.0.0")


def test_the_notebook_playground_runs_in_a_thread_and_stops():
    pg = cr.playground()  # as docs/playground.md calls it in Jupyter
    try:
        assert pg.url.startswith("http://127.0.0.1:")
        assert f'src="{pg.url}"' in pg._repr_html_() and "<iframe" in pg._repr_html_()
        r = httpx.post(pg.url + "api/sessions", json={"hidden": [2]}, timeout=10)
        assert r.status_code == 201
    finally:
        pg.stop()
    assert not pg._thread.is_alive() and "stopped" in repr(pg)
    assert playground.__module__ == "chainrule.playground"  # the function is still importable


def test_the_playground_benchmark_runs_at_a_tiny_size(tmp_path):
    """It measures (no time is asserted): a frame, its parts, and a class on a real server."""
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "playground", "--tiny", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text())
    assert set(results["frame"]) == {"frame", "train 10 batches", "maps", "frame + JSON"}
    assert results["classroom"]["n"] == 4 and results["classroom"]["p95_ms"] > 0
