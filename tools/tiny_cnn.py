"""A tiny image classifier trained in pure NumPy.

Architecture (NHWC, float32, input RGB scaled to 0..1):

    [N, 64, 64, 3]
    -> conv 3x3 stride 2, SAME, ReLU  (c0 channels)  [N, 32, 32, c0]
    -> conv 3x3 stride 2, SAME, ReLU  (c1 channels)  [N, 16, 16, c1]
    -> conv 3x3 stride 2, SAME, ReLU  (c2 channels)  [N,  8,  8, c2]
    -> global max pool                                [N, c2]
    -> fully connected                                [N, classes]
    -> softmax

Convolution weights are stored OHWI and fully connected weights [out, in],
the TFLite layouts, so quantization and export need no transposes. SAME
padding follows TensorFlow: the extra row/column for stride 2 goes at the
bottom/right. Convolutions are matrix products over im2col patches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

F32 = NDArray[np.float32]
Params = dict[str, F32]

KERNEL = 3
STRIDE = 2
POOL = "max"  # a defect is local: the strongest response anywhere counts
BN_EPS = 1e-3
BN_MOMENTUM = 0.9
INPUT_ZERO = 0


@dataclass(frozen=True)
class Trace:
    """Activations of one forward pass, kept for backprop and calibration.

    ``cols[i]`` are the im2col patches feeding conv ``i``, ``acts[i]`` its ReLU
    output (N, H, W, C); ``pooled`` is (N, C) and ``logits`` (N, classes).
    """

    cols: list[F32]
    acts: list[F32]
    pooled: F32
    logits: F32
    in_shapes: list[tuple[int, ...]] = field(default_factory=list)


def same_padding(size: int) -> tuple[int, int, int]:
    """Output size and (before, after) padding of a 3x3 stride-2 SAME conv."""
    out = math.ceil(size / STRIDE)
    total = max((out - 1) * STRIDE + KERNEL - size, 0)
    return out, total // 2, total - total // 2


def im2col(x: F32) -> F32:
    """Patches of a (N, H, W, C) batch for a 3x3 stride-2 SAME conv.

    Returns (N * Ho * Wo, 9 * C) with columns ordered (kh, kw, c), matching an
    OHWI weight reshaped to (O, 9 * C).
    """
    n, h, w, c = x.shape
    ho, top, bottom = same_padding(h)
    wo, left, right = same_padding(w)
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    cols = np.empty((n, ho, wo, KERNEL, KERNEL, c), np.float32)
    for i in range(KERNEL):
        for j in range(KERNEL):
            cols[:, :, :, i, j, :] = xp[
                :, i : i + STRIDE * ho : STRIDE, j : j + STRIDE * wo : STRIDE, :
            ]
    return cols.reshape(n * ho * wo, KERNEL * KERNEL * c)


def col2im(dcols: F32, shape: tuple[int, ...]) -> F32:
    """Adjoint of ``im2col``: scatter-add patch gradients back to (N, H, W, C)."""
    n, h, w, c = shape
    ho, top, bottom = same_padding(h)
    wo, left, right = same_padding(w)
    d = dcols.reshape(n, ho, wo, KERNEL, KERNEL, c)
    dxp = np.zeros((n, h + top + bottom, w + left + right, c), np.float32)
    for i in range(KERNEL):
        for j in range(KERNEL):
            dxp[:, i : i + STRIDE * ho : STRIDE, j : j + STRIDE * wo : STRIDE, :] += d[
                :, :, :, i, j, :
            ]
    return dxp[:, top : top + h, left : left + w, :]


def init_params(
    rng: np.random.Generator, channels: tuple[int, ...], classes: int
) -> Params:
    """He-normal conv weights, unit batch-norm scales, zero shifts and biases.

    Keys: ``conv{i}.w`` (O, 3, 3, I), ``bn{i}.gamma``/``bn{i}.beta`` (O,),
    ``fc.w`` (classes, C) and ``fc.b`` (classes,).
    """
    params: Params = {}
    c_in = 3
    for i, c_out in enumerate(channels):
        fan_in = KERNEL * KERNEL * c_in
        w = rng.normal(0.0, math.sqrt(2.0 / fan_in), (c_out, KERNEL, KERNEL, c_in))
        params[f"conv{i}.w"] = w.astype(np.float32)
        params[f"bn{i}.gamma"] = np.ones(c_out, np.float32)
        params[f"bn{i}.beta"] = np.zeros(c_out, np.float32)
        c_in = c_out
    fc = rng.normal(0.0, math.sqrt(1.0 / c_in), (classes, c_in))
    params["fc.w"] = fc.astype(np.float32)
    params["fc.b"] = np.zeros(classes, np.float32)
    return params


def n_convs(params: Params) -> int:
    """Number of conv layers in ``params``."""
    return sum(1 for k in params if k.startswith("conv") and k.endswith(".w"))


def _pool(h: F32) -> F32:
    """Global pooling of (N, H, W, C) to (N, C)."""
    return h.max(axis=(1, 2)) if POOL == "max" else h.mean(axis=(1, 2))


def forward(folded: Params, x: F32) -> Trace:
    """Inference on a (N, 64, 64, 3) float32 batch with folded parameters.

    ``folded`` has ``conv{i}.w``/``conv{i}.b`` (batch norm already folded in,
    see ``fold_batchnorm``) and ``fc.w``/``fc.b``.
    """
    cols, acts, shapes = [], [], []
    h = x
    for i in range(n_convs(folded)):
        w = folded[f"conv{i}.w"]
        shapes.append(h.shape)
        col = im2col(h)
        n, hh, ww, _ = h.shape
        z = col @ w.reshape(w.shape[0], -1).T + folded[f"conv{i}.b"]
        h = np.maximum(z, 0.0).reshape(
            n, math.ceil(hh / STRIDE), math.ceil(ww / STRIDE), w.shape[0]
        )
        cols.append(col)
        acts.append(h)
    pooled = _pool(h)
    logits = pooled @ folded["fc.w"].T + folded["fc.b"]
    return Trace(cols, acts, pooled, logits, shapes)


@dataclass(frozen=True)
class TrainTrace:
    """A training-mode forward pass: the inference trace plus batch-norm caches.

    ``xhat[i]`` is the normalised pre-activation (M, C) and ``inv_std[i]`` the
    per-channel 1/sqrt(var + eps) of the batch, M = N * H * W.
    """

    trace: Trace
    xhat: list[F32]
    inv_std: list[F32]
    means: list[F32]
    variances: list[F32]


def forward_train(params: Params, x: F32) -> TrainTrace:
    """Training forward pass with batch statistics in every batch norm."""
    cols, acts, shapes, xhats, inv_stds, means, variances = [], [], [], [], [], [], []
    h = x
    for i in range(n_convs(params)):
        w = params[f"conv{i}.w"]
        shapes.append(h.shape)
        col = im2col(h)
        n, hh, ww, _ = h.shape
        z = col @ w.reshape(w.shape[0], -1).T
        mean, var = z.mean(axis=0), z.var(axis=0)
        inv_std = (1.0 / np.sqrt(var + BN_EPS)).astype(np.float32)
        xhat = (z - mean) * inv_std
        y = xhat * params[f"bn{i}.gamma"] + params[f"bn{i}.beta"]
        h = np.maximum(y, 0.0).reshape(
            n, math.ceil(hh / STRIDE), math.ceil(ww / STRIDE), w.shape[0]
        )
        cols.append(col)
        acts.append(h)
        xhats.append(xhat)
        inv_stds.append(inv_std)
        means.append(mean)
        variances.append(var)
    pooled = _pool(h)
    logits = pooled @ params["fc.w"].T + params["fc.b"]
    return TrainTrace(
        Trace(cols, acts, pooled, logits, shapes), xhats, inv_stds, means, variances
    )


def fold_batchnorm(params: Params, stats: Params) -> Params:
    """Fold batch norm (running ``bn{i}.mean``/``bn{i}.var``) into conv weights and
    biases."""
    folded: Params = {"fc.w": params["fc.w"].copy(), "fc.b": params["fc.b"].copy()}
    for i in range(n_convs(params)):
        scale = params[f"bn{i}.gamma"] / np.sqrt(stats[f"bn{i}.var"] + BN_EPS)
        folded[f"conv{i}.w"] = (
            params[f"conv{i}.w"] * scale[:, None, None, None]
        ).astype(np.float32)
        folded[f"conv{i}.b"] = (
            params[f"bn{i}.beta"] - stats[f"bn{i}.mean"] * scale
        ).astype(np.float32)
    return folded


def softmax(logits: F32) -> F32:
    """Row-wise softmax of (N, K) logits."""
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def backward(
    params: Params, tt: TrainTrace, labels: NDArray[np.int64]
) -> tuple[float, Params]:
    """Mean cross-entropy loss and its gradient for every trainable parameter."""
    trace = tt.trace
    n = labels.shape[0]
    probs = softmax(trace.logits)
    loss = float(-np.log(probs[np.arange(n), labels] + 1e-9).mean())
    dlogits = probs
    dlogits[np.arange(n), labels] -= 1.0
    dlogits /= n
    grads: Params = {"fc.w": dlogits.T @ trace.pooled, "fc.b": dlogits.sum(axis=0)}
    last = trace.acts[-1]
    dpool = dlogits @ params["fc.w"]
    if POOL == "max":
        dh = (last == trace.pooled[:, None, None, :]) * dpool[:, None, None, :]
    else:
        dh = np.broadcast_to(
            dpool[:, None, None, :] / (last.shape[1] * last.shape[2]), last.shape
        )
    for i in reversed(range(n_convs(params))):
        w = params[f"conv{i}.w"]
        dy = (dh * (trace.acts[i] > 0)).reshape(-1, w.shape[0]).astype(np.float32)
        xhat = tt.xhat[i]
        grads[f"bn{i}.gamma"] = (dy * xhat).sum(axis=0)
        grads[f"bn{i}.beta"] = dy.sum(axis=0)
        dxhat = dy * params[f"bn{i}.gamma"]
        dz = tt.inv_std[i] * (
            dxhat - dxhat.mean(axis=0) - xhat * (dxhat * xhat).mean(axis=0)
        )
        grads[f"conv{i}.w"] = (dz.T @ trace.cols[i]).reshape(w.shape)
        if i > 0:
            dh = col2im(dz @ w.reshape(w.shape[0], -1), trace.in_shapes[i])
    return loss, grads


class Adam:
    """Adam with decoupled weight decay on weights (not biases)."""

    def __init__(self, params: Params, weight_decay: float = 1e-4) -> None:
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.t = 0
        self.weight_decay = weight_decay

    def step(self, params: Params, grads: Params, lr: float) -> None:
        """Update ``params`` in place with learning rate ``lr``."""
        self.t += 1
        b1, b2 = 0.9, 0.999
        for k, g in grads.items():
            self.m[k] = b1 * self.m[k] + (1 - b1) * g
            self.v[k] = b2 * self.v[k] + (1 - b2) * g * g
            m_hat = self.m[k] / (1 - b1**self.t)
            v_hat = self.v[k] / (1 - b2**self.t)
            update = lr * m_hat / (np.sqrt(v_hat) + 1e-8)
            if k.endswith(".w"):
                update += lr * self.weight_decay * params[k]
            params[k] -= update.astype(np.float32)


def to_float(images: NDArray[np.uint8]) -> F32:
    """uint8 RGB images to float32 in 0..1 (the quantized input scale is 1/255)."""
    return (images.astype(np.float32) - np.float32(INPUT_ZERO)) / np.float32(255.0)


def predict(params: Params, images: NDArray[np.uint8], batch: int = 256) -> F32:
    """Class probabilities (N, classes) for uint8 (N, 64, 64, 3) images."""
    out = [
        softmax(forward(params, to_float(images[i : i + batch])).logits)
        for i in range(0, len(images), batch)
    ]
    return np.concatenate(out)


def accuracy(
    params: Params, images: NDArray[np.uint8], labels: NDArray[np.int64]
) -> float:
    """Top-1 accuracy in 0..1."""
    return float((predict(params, images).argmax(axis=1) == labels).mean())


def augment(rng: np.random.Generator, x: F32) -> F32:
    """Random horizontal and vertical flips; the belt scene is symmetric under both."""
    flip_h = rng.random(len(x)) < 0.5
    flip_v = rng.random(len(x)) < 0.5
    x = x.copy()
    x[flip_h] = x[flip_h, :, ::-1]
    x[flip_v] = x[flip_v, ::-1]
    return x


def train(
    rng: np.random.Generator,
    images: NDArray[np.uint8],
    labels: NDArray[np.int64],
    *,
    channels: tuple[int, ...] = (8, 16, 32),
    epochs: int = 20,
    batch: int = 64,
    lr: float = 3e-3,
    log: bool = True,
) -> Params:
    """Train from scratch with Adam and a cosine learning-rate schedule.

    Returns folded inference parameters (see ``forward``).
    """
    params = init_params(rng, channels, int(labels.max()) + 1)
    stats: Params = {}
    for i, c in enumerate(channels):
        stats[f"bn{i}.mean"] = np.zeros(c, np.float32)
        stats[f"bn{i}.var"] = np.ones(c, np.float32)
    opt = Adam(params)
    steps = epochs * math.ceil(len(images) / batch)
    step = 0
    for epoch in range(epochs):
        order = rng.permutation(len(images))
        losses = []
        for start in range(0, len(images), batch):
            idx = order[start : start + batch]
            tt = forward_train(params, augment(rng, to_float(images[idx])))
            loss, grads = backward(params, tt, labels[idx])
            opt.step(params, grads, lr * 0.5 * (1 + math.cos(math.pi * step / steps)))
            for i in range(len(channels)):
                stats[f"bn{i}.mean"] = (
                    BN_MOMENTUM * stats[f"bn{i}.mean"] + (1 - BN_MOMENTUM) * tt.means[i]
                )
                stats[f"bn{i}.var"] = (
                    BN_MOMENTUM * stats[f"bn{i}.var"]
                    + (1 - BN_MOMENTUM) * tt.variances[i]
                )
            losses.append(loss)
            step += 1
        if log:
            print(
                f"  epoch {epoch + 1:2d}/{epochs}  loss {np.mean(losses):.4f}",
                flush=True,
            )
    return fold_batchnorm(params, stats)
