"""The playground in a real browser: headless Chromium (Debian's `chromium`) driven by
Playwright, against the real server started by `chainrule playground` in a subprocess.

Each test walks one of issue 11's paths through the page, using only the page's `data-testid`
hooks, and checks what the page shows against chainrule itself: the chain rule in the explain
panel against `cr.explain` on the session's weights, the gradient view against the API's
gradients, the exported model against `chainrule evaluate`. Screenshots go to tmp_path.

In CI (CI=true) a missing chromium or playwright fails these tests; elsewhere they skip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import Dataset
from chainrule.preprocess import Preprocessing, head, targets

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 20_000  # a bound for the page to catch up, never a measured time


def _missing(reason: str) -> None:
    """Fail in CI, where the browser must be there; skip, saying why, on a user's machine."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI must run the browser tests)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def server() -> Any:
    """`chainrule playground --no-browser` on a free port of 127.0.0.1; its base URL."""
    for module in ("starlette", "uvicorn"):
        try:
            __import__(module)
        except ImportError:
            _missing(f"{module} is not installed: pip install 'chainrule[playground]'")
    from chainrule.playground import free_port

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "chainrule.cli", "playground", "--no-browser", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            api(base, "/api/options")
            break
        except OSError as err:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                stderr = process.stderr.read() if process.stderr else b""
                raise RuntimeError(f"the playground did not start: {stderr!r}") from err
            time.sleep(0.1)
    yield base
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


@pytest.fixture(scope="module")
def browser() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed: pip install playwright")
    if not Path(CHROMIUM).exists():
        _missing(f"{CHROMIUM} is missing: apt-get install chromium")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, server: str, tmp_path: Path) -> Any:
    context = browser.new_context(viewport={"width": 1500, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.base = server
    yield page
    page.screenshot(path=str(tmp_path / "last.png"), full_page=True)
    context.close()
    assert not errors, f"the page threw: {errors}"


def api(base: str, path: str) -> Any:
    with urllib.request.urlopen(base + path, timeout=10) as response:
        return json.loads(response.read())


def open_page(page: Any, hash_: str = "") -> str:
    """Load the page (with a scene in the hash) and wait for its session; its id."""
    page.goto(f"{page.base}/{hash_}")
    page.wait_for_selector("body[data-ready='1']")
    return page.evaluate("document.body.dataset.session")


def number(page: Any, testid: str) -> float:
    return float(page.get_attribute(f"[data-testid={testid}]", "data-value"))


def epoch(page: Any) -> int:
    return int(page.text_content("[data-testid=epoch]"))


def clickable_edge(page: Any, layer: int) -> Any:
    """An edge of `layer` whose hit area's centre is not under another edge's, so a pointer
    click at its centre lands on it."""
    index = page.evaluate(
        """(layer) => [...document.querySelectorAll(`[data-testid=edge][data-layer="${layer}"]`)]
        .findIndex((e) => { const r = e.getBoundingClientRect();
          return document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2) === e; })""",
        layer,
    )
    assert index >= 0, f"no edge of layer {layer} can be clicked at its centre"
    return page.locator(f"[data-testid=edge][data-layer='{layer}']").nth(index)


def test_play_trains_and_the_loss_falls(page: Any, tmp_path: Path) -> None:
    open_page(page, "#lr=0.1")
    assert page.locator("[data-testid=edge]").count() == 2 * 4 + 4 * 2 + 2 * 2
    first = number(page, "train-loss")
    assert epoch(page) == 0
    page.click("[data-testid=play]")
    page.wait_for_function(
        f"""() => Number(document.querySelector('[data-testid=epoch]').textContent) >= 5 &&
        Number(document.querySelector('[data-testid=train-loss]').dataset.value) < {first}"""
    )
    page.click("[data-testid=play]")
    page.screenshot(path=str(tmp_path / "playing.png"), full_page=True)
    assert epoch(page) >= 5
    assert number(page, "train-loss") < first
    assert np.isfinite(number(page, "test-loss"))


def explain_here(base: str, session: str, layer: int, j: int, k: int | str, example: int) -> Any:
    """cr.explain on the session's weights, fetched through the API, for one training row."""
    info = api(base, f"/api/sessions/{session}")
    config = info["config"]
    points = api(base, f"/api/sessions/{session}/data")
    assert points["features"] == ["x1", "x2"]  # so a row's features are its raw inputs
    X = np.array(points["train"]["x"])
    classes = points["classes"]
    y = np.array(points["train"]["y"]).astype(int)
    prep = Preprocessing.fit(Dataset("train", X, y, points["features"], classes))
    sizes = [len(layer_["weight"][0]) for layer_ in info["layers"]]
    sizes.append(len(info["layers"][-1]["weight"]))
    outputs, output_activation = head(config["loss"], len(classes))
    assert outputs == sizes[-1]
    model = cr.nn.mlp(sizes, config["activation"], output_activation, rng=0)
    state = {}
    for index, layer_ in enumerate(info["layers"]):
        state[f"{2 * index}.weight"] = np.array(layer_["weight"])
        state[f"{2 * index}.bias"] = np.array(layer_["bias"])
    model.load_state_dict(state)
    x = prep.features(X)[example]
    target = targets(y, config["loss"], len(classes), prep)[example]
    return cr.explain(
        model, x, target, config["loss"], layer=layer, j=j, k=None if k == "bias" else k
    )


def test_clicking_an_edge_shows_its_chain_rule(page: Any, tmp_path: Path) -> None:
    session = open_page(page)
    for _ in range(3):
        page.click("[data-testid=step]")
    page.wait_for_selector("[data-testid=epoch][data-step='3']")
    edge = clickable_edge(page, 1)
    layer, j, k = (int(edge.get_attribute(f"data-{name}")) for name in ("layer", "j", "k"))
    edge.click()
    panel = page.locator("[data-testid=explain-panel]")
    panel.wait_for(state="visible")
    page.wait_for_selector("[data-testid=explain-panel]:not([data-loading])")
    assert page.text_content("[data-testid=explain-agree]") == "agree: yes"
    assert panel.locator(".katex").count() >= 2  # the title and the chain, rendered by KaTeX
    assert panel.get_attribute("data-layer") == str(layer)
    page.screenshot(path=str(tmp_path / "explain.png"), full_page=True)

    e = explain_here(page.base, session, layer, j, k, example=0)
    assert e.agree
    assert number(page, "explain-value") == pytest.approx(e.value, rel=1e-9, abs=1e-12)
    assert number(page, "explain-autodiff") == pytest.approx(e.autodiff, rel=1e-9, abs=1e-12)
    assert number(page, "explain-numeric") == pytest.approx(e.numeric, rel=1e-6, abs=1e-9)
    # Earlier layers reach the loss along every path: one term per neuron of the layer above.
    page.click("[data-testid=explain-paths] summary")
    assert page.locator("[data-testid=explain-paths] .path").count() >= len(e.paths)

    # A bias, on the whole training set this time.
    page.select_option("[data-testid=explain-scope]", "batch")
    page.click("[data-testid=bias][data-layer='2'][data-j='1']")
    page.wait_for_selector("[data-testid=explain-panel][data-k='bias']:not([data-loading])")
    assert page.text_content("[data-testid=explain-agree]") == "agree: yes"
    assert page.get_attribute("[data-testid=explain-panel]", "data-example") == "batch"

    # Editing the weight in the panel changes it on the server.
    edge.click()
    page.wait_for_selector("[data-testid=explain-panel][data-k]:not([data-k='bias'])")
    page.fill("[data-testid=weight-input]", "1.5")
    page.press("[data-testid=weight-input]", "Enter")
    page.wait_for_function("location.hash.includes('w=')")
    info = api(page.base, f"/api/sessions/{session}")
    assert info["layers"][layer - 1]["weight"][j][k] == 1.5


def test_gradient_view_draws_dC_dw_and_flags_vanishing_layers(page: Any, tmp_path: Path) -> None:
    session = open_page(page, "#hidden=8,8,8,8,8,8&activation=sigmoid")
    page.check("[data-testid=gradient-view]")
    page.wait_for_selector("[data-testid=health-verdict]:not([hidden])")
    page.screenshot(path=str(tmp_path / "gradients.png"), full_page=True)
    grads = api(page.base, f"/api/sessions/{session}/gradients?example=batch")
    edges = page.locator("[data-testid=edge]")
    for index in (0, edges.count() - 1):
        edge = edges.nth(index)
        layer, j, k = (int(edge.get_attribute(f"data-{name}")) for name in ("layer", "j", "k"))
        shown = float(edge.get_attribute("data-shown"))
        assert shown == pytest.approx(grads["layers"][layer - 1]["weight"][j][k], rel=1e-12)
    flagged = {
        int(badge.get_attribute("data-layer")): badge.get_attribute("data-status")
        for badge in page.locator("[data-testid=layer-health]:not([hidden])").all()
    }
    expected = {layer["layer"]: layer["status"] for layer in grads["health"]["layers"]}
    assert flagged == expected
    assert "vanishing" in flagged.values()
    assert "vanish" in page.text_content("[data-testid=health-verdict]")
    page.uncheck("[data-testid=gradient-view]")
    assert page.locator("[data-testid=layer-health]:not([hidden])").count() == 0


def test_backprop_walks_one_layer_per_next(page: Any, tmp_path: Path) -> None:
    session = open_page(page)
    page.fill("[data-testid=backprop-example]", "3")
    page.click("[data-testid=backprop-start]")
    panel = page.locator("[data-testid=backprop-stage]").locator("..")
    walk = []
    while True:
        page.wait_for_selector("#backprop[data-stage]")
        walk.append((panel.get_attribute("data-stage"), int(panel.get_attribute("data-layer"))))
        if walk[-1] == ("forward", 1):
            page.screenshot(path=str(tmp_path / "backprop-forward.png"), full_page=True)
            z_shown = page.locator("[data-testid=backprop-table] td").nth(1).text_content()
        if page.is_disabled("[data-testid=backprop-next]"):
            break
        page.click("[data-testid=backprop-next]")
    assert walk == [
        ("input", 0),
        ("forward", 1),
        ("forward", 2),
        ("forward", 3),
        ("backward", 3),
        ("backward", 2),
        ("backward", 1),
        ("update", 3),
        ("update", 2),
        ("update", 1),
        ("done", 3),
    ]
    truth = api(page.base, f"/api/sessions/{session}/backprop?example=3")
    assert float(z_shown) == pytest.approx(truth["forward"][0]["z"][0], rel=1e-5)
    # The walk is a view: the session's weights stay as they were.
    assert api(page.base, f"/api/sessions/{session}")["step"] == 0


def test_a_three_class_csv_trains(page: Any, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0, 0.0], [3.0, 0.0, 1.0], [0.0, 3.0, -1.0]])
    lines = ["a,b,c,kind"]
    for i in range(150):
        label = ["red", "green", "blue"][i % 3]
        row = centres[i % 3] + rng.normal(0, 0.6, 3)
        lines.append(",".join(f"{v:.4f}" for v in row) + f",{label}")
    path = tmp_path / "three.csv"
    path.write_text("\n".join(lines) + "\n")
    session = open_page(page, "#lr=0.3")
    page.set_input_files("[data-testid=csv-upload]", str(path))
    page.wait_for_function(f"document.body.dataset.session !== '{session}'")
    page.wait_for_selector("[data-testid=confusion] table")
    assert page.input_value("[data-testid=dataset]") == "csv"
    assert page.locator("[data-testid=feature]").count() == 3
    outputs = page.locator("[data-testid=neuron].output")
    assert outputs.count() == 3
    first = number(page, "train-loss")
    page.click("[data-testid=play]")
    page.wait_for_function(
        f"Number(document.querySelector('[data-testid=train-loss]').dataset.value) < {first / 2}"
    )
    page.click("[data-testid=play]")
    page.screenshot(path=str(tmp_path / "csv.png"), full_page=True)
    header = page.locator("[data-testid=confusion] tr").first.locator("th")
    assert [header.nth(i).text_content() for i in range(1, 4)] == ["blue", "green", "red"]
    cells = page.locator("[data-testid=confusion] td")
    assert cells.count() == 9
    assert sum(int(c) for c in cells.all_text_contents()) == len(
        api(page.base, f"/api/sessions/{page.evaluate('document.body.dataset.session')}/data")[
            "test"
        ]["y"]
    )


def test_a_shared_url_gives_the_same_scene(page: Any, browser: Any, tmp_path: Path) -> None:
    open_page(page)
    page.select_option("[data-testid=dataset]", "xor")
    page.wait_for_function("location.hash.includes('dataset=xor')")
    page.click("[data-testid=add-layer]")
    page.wait_for_function("location.hash.includes('hidden=4,2,2')")
    page.click("[data-testid=feature][data-feature='x1x2']")
    page.wait_for_function("location.hash.includes('x1x2')")
    page.select_option("[data-testid=lr]", "0.1")
    page.wait_for_function("location.hash.includes('lr=0.1')")
    page.check("[data-testid=show-test]")
    clickable_edge(page, 2).click()
    page.fill("[data-testid=weight-input]", "-2.25")
    page.press("[data-testid=weight-input]", "Enter")
    page.wait_for_function("location.hash.includes('w=')")
    url = page.url + "&hide=lr,features"
    sent = api(page.base, f"/api/sessions/{page.evaluate('document.body.dataset.session')}")

    other = browser.new_context(viewport={"width": 1500, "height": 1000}).new_page()
    other.set_default_timeout(WAIT_MS)
    other.goto(url)
    other.wait_for_selector("body[data-ready='1']")
    other.screenshot(path=str(tmp_path / "shared.png"), full_page=True)
    received = api(page.base, f"/api/sessions/{other.evaluate('document.body.dataset.session')}")
    for key in ("dataset", "hidden", "features", "lr", "activation", "seed", "n", "noise"):
        assert received["config"][key] == sent["config"][key], key
    assert received["layers"] == sent["layers"]  # same seed, then the same hand-set weight
    assert other.input_value("[data-testid=dataset]") == "xor"
    assert other.is_checked("[data-testid=show-test]")
    assert not other.is_visible("[data-testid=lr]")
    assert other.locator("[data-testid=feature]").count() == 3  # only the features in use
    other.context.close()


def test_an_exported_model_is_evaluated_by_the_cli(page: Any, tmp_path: Path) -> None:
    open_page(page)
    for _ in range(5):
        page.click("[data-testid=step]")
    page.wait_for_selector("[data-testid=epoch][data-step='5']")
    files = {}
    for what in ("model", "data", "script"):
        with page.expect_download() as download:
            page.click(f"[data-testid=export-{what}]")
        files[what] = tmp_path / download.value.suggested_filename
        download.value.save_as(files[what])
    assert "import chainrule as cr" in files["script"].read_text()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "chainrule.cli",
            "evaluate",
            str(files["model"]),
            "--data",
            str(files["data"]),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    shown = float(page.text_content("[data-testid=test-loss]"))
    loss_line = next(line for line in result.stdout.splitlines() if line.startswith("loss"))
    assert float(loss_line.split(":")[1]) == pytest.approx(shown, abs=1e-4)


def test_graph_toggle_shows_the_losss_computation_graph(page: Any, tmp_path: Path) -> None:
    session = open_page(page)
    assert page.is_hidden("[data-testid=graph-panel]")
    page.fill("[data-testid=graph-example]", "4")
    page.click("[data-testid=graph-toggle]")
    page.wait_for_selector("[data-testid=graph-panel][data-example='4']")
    image = page.locator("[data-testid=graph-image]")
    assert image.evaluate("(img) => img.complete && img.naturalWidth") > 0
    page.screenshot(path=str(tmp_path / "graph.png"), full_page=True)
    # the <img> shows the server's drawing for that example
    src = image.get_attribute("src")
    shown = page.evaluate("(src) => fetch(src).then((r) => r.text())", src)
    url = f"{page.base}/api/sessions/{session}/graph?example=4"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert shown == response.read().decode("utf-8")
    page.click("[data-testid=graph-toggle]")
    assert page.is_hidden("[data-testid=graph-panel]")
