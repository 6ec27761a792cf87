"""What the page draws from a session, each computed by chainrule itself: the boundary and
neuron maps (the network's own forward pass), `cr.explain` for one weight, the gradients and
`cr.gradient_health`, one example's backpropagation (autodiff with every z and a kept), and
the confusion matrix."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.callbacks import step_lr
from chainrule.checks import refuse
from chainrule.lecture import health as health_rules
from chainrule.lecture.explain import explain as explain_weight
from chainrule.lecture.health import gradient_health
from chainrule.nn.layers import blocks
from chainrule.nn.losses import CrossEntropyLoss
from chainrule.playground.config import OWNER
from chainrule.playground.session import Session, Split, _floats, _index
from chainrule.preprocess import confusion_matrix, decode
from chainrule.tensor import Tensor, no_grad

MAX_MAP = 128  # the largest boundary map, in cells per side
NEURON_MAP = 16  # cells per side of each neuron's small map


# ---- maps ----------------------------------------------------------------------------------------


def _activations(session: Session, x: np.ndarray) -> list[np.ndarray]:
    """a^{(l)} for l = 1..L on rows x (z^{(L)} where no activation follows the last layer)."""
    out = []
    a = Tensor(x)
    with no_grad():
        for block in blocks(session.model):
            a = block.linear(a)
            if block.activation is not None:
                a = block.activation(a)
            out.append(a.data)
    return out


def _shown(session: Session, output: np.ndarray) -> np.ndarray:
    """What the boundary map colours: P(class 1) for two classes, the class index for more,
    the prediction in the target's units for regression."""
    if session.n_classes == 2:
        if isinstance(session.loss, CrossEntropyLoss):
            return session.loss.output(output)[:, 1]
        return output[:, 0]
    return decode(output, session.loss_name, session.n_classes, session.prep).astype(np.float64)


def maps(session: Session, size: Any = 64) -> dict[str, Any]:
    """The boundary map and a small map per neuron (per hidden layer and the output layer),
    plus each feature's map; empty when the data does not have exactly two raw inputs."""
    size = _index("size", size, MAX_MAP + 1, low=2)
    if session.extent is None:
        return {"size": 0, "extent": None, "output": [], "neurons": [], "neuron_size": 0}
    output = _activations(session, session.grid(size)[1])[-1]
    features, small = session.grid(NEURON_MAP)
    layers = _activations(session, small)
    return {
        "size": size,
        "extent": session.extent,
        "output": _rounded(_shown(session, output)),
        "neurons": [[_rounded(a[:, j]) for j in range(a.shape[1])] for a in layers],
        "features": [_rounded(features[:, i]) for i in range(features.shape[1])],
        "neuron_size": NEURON_MAP,
    }


def _rounded(values: np.ndarray) -> list[Any]:
    return _floats(np.round(values, 4))


# ---- the chain rule ------------------------------------------------------------------------------


def explain(session: Session, layer: Any, j: Any, k: Any, example: Any) -> dict[str, Any]:
    """`cr.explain` for w_{jk}^{(layer)} (k "bias": b_j) on a training row or the batch."""
    linear = session.linear(layer)
    j = _index("j", j, linear.out_features)
    k = None if k == "bias" else _index("k", k, linear.in_features)
    x, y = session.example(example)
    e = explain_weight(session.model, x, y, session.loss, int(layer), j, k)
    return {
        "value": e.value,
        "autodiff": e.autodiff,
        "numeric": e.numeric,
        "agree": "yes" if e.agree else "no",
        "text": str(e),
        "latex": e._repr_latex_().removeprefix("$$").removesuffix("$$").strip(),
        "weight": e.weight,
        "location": e.location,
        "examples": e.n,
        "factors": [
            {"name": f.name, "form": f.form, "value": float(f.values[0])} for f in e.factors
        ],
        "paths": [
            {
                "name": s.name,
                "layer": s.layer,
                "q": s.q,
                "value": float(s.values[0]),
                "terms": [{"p": t.p, "form": t.form, "value": float(t.values[0])} for t in s.terms],
            }
            for s in e.paths
        ],
    }


def _status(h: health_rules.LayerHealth, top: float) -> str:
    """One layer's word, by the thresholds gradient_health's hints use."""
    if not np.isfinite(h.grad_norm) or h.grad_norm > health_rules.EXPLODING:
        return "exploding"
    if h.grad_norm < health_rules.VANISHING * top:
        return "vanishing"
    if h.dead is not None and h.dead > health_rules.MOSTLY:
        return "dead"
    if h.saturated is not None and h.saturated > health_rules.MOSTLY:
        return "saturated"
    return "ok"


def gradients(session: Session, example: Any) -> dict[str, Any]:
    """∂C/∂w for every weight and bias (one backward pass) and the gradient health report."""
    x, y = session.rows(example)
    model = session.model
    model.zero_grad()
    try:
        session.loss(model(Tensor(x)), y).backward()
        report = gradient_health(model, x, lr=step_lr(session.optimizer))
        layers = [
            {"weight": _grad(b.linear.weight), "bias": _grad(b.linear.bias)} for b in blocks(model)
        ]
    finally:
        model.zero_grad()
    top = max((h.grad_norm for h in report.layers), default=0.0)
    return {
        "layers": layers,
        "health": {
            "verdict": report.verdict,
            "hints": report.hints,
            "layers": [
                {
                    "layer": h.layer,
                    "status": _status(h, top),
                    "update_ratio": h.update_ratio,
                    "norm": _number(h.grad_norm),
                    "weight_norm": _number(h.weight_norm),
                    "saturated": h.saturated,
                    "dead": h.dead,
                }
                for h in report.layers
            ],
        },
    }


def _grad(t: Tensor | None) -> Any:
    """∂C/∂t after a backward pass, as JSON (zeros where the pass did not reach)."""
    if t is None:
        return []
    return _floats(t.grad if t.grad is not None else np.zeros_like(t.data))


def _number(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def backprop(session: Session, example: Any) -> dict[str, Any]:
    """One example's forward pass (z, a per layer), then ∂C/∂a and δ = ∂C/∂z from the output
    down, then each weight's gradient and change −η ∂C/∂w: autodiff's numbers, every
    intermediate kept with `retain_grad`."""
    if example in (None, "batch"):
        raise refuse(OWNER, "example", "a training row index (backprop walks one example)", example)
    x, y = session.rows(example)
    model = session.model
    forward, kept = [], []
    a = Tensor(x)
    model.zero_grad()
    try:
        for l, block in enumerate(blocks(model), start=1):
            z = block.linear(a).retain_grad()
            a = block.activation(z).retain_grad() if block.activation is not None else z
            kept.append((l, block, z, a))
        session.loss(a, y).backward()
        for l, _, z, a in kept:
            forward.append({"layer": l, "z": _floats(z.data[0]), "a": _floats(a.data[0])})
        backward = [
            {"layer": l, "dC_da": _grad(a)[0], "delta": _grad(z)[0]}
            for l, _, z, a in reversed(kept)
        ]
        lr = session.config.lr
        updates = [
            {
                "layer": l,
                "weight_grad": _grad(b.linear.weight),
                "bias_grad": _grad(b.linear.bias),
                "weight_change": _floats(-lr * np.asarray(_grad(b.linear.weight))),
                "bias_change": _floats(-lr * np.asarray(_grad(b.linear.bias))),
            }
            for l, b, _, _ in reversed(kept)
        ]
    finally:
        model.zero_grad()
    return {
        "x": _floats(x[0]),
        "y": _floats(np.asarray(y[0], dtype=np.float64)),
        "forward": forward,
        "backward": backward,
        "updates": updates,
        "lr": lr,
    }


# ---- data and scores -----------------------------------------------------------------------------


def _points(part: Split) -> dict[str, Any]:
    return {"x": _floats(part.raw.X), "y": _floats(part.raw.y.astype(np.float64))}


def points(session: Session) -> dict[str, Any]:
    """The raw inputs (not the engineered features) and targets, for the scatter."""
    return {
        "features": session.features,
        "inputs": session.inputs,
        "problem": session.problem,
        "classes": session.classes,
        "target": session.train.raw.target_name,
        "train": _points(session.train),
        "test": _points(session.test) if session.test is not None else {"x": [], "y": []},
    }


def confusion(session: Session, split: str | None) -> dict[str, Any]:
    """counts[i][j]: rows of true class i predicted as class j, on the train or test rows."""
    split = split or "test"
    if split not in ("train", "test"):
        raise refuse(OWNER, "split", "train or test", split)
    if session.classes is None or session.n_classes is None:
        raise refuse(OWNER, "dataset", "a classification set for a confusion matrix", "regression")
    part = session.train if split == "train" or session.test is None else session.test
    predicted = decode(session.output(part.x), session.loss_name, session.n_classes, session.prep)
    matrix = confusion_matrix(part.raw.y, predicted, session.n_classes)
    return {"classes": session.classes, "split": split, "matrix": matrix.tolist()}
