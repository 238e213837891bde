"""Full-integer (int8) post-training quantization of ``tiny_cnn`` models to .tflite.

The graph is the one ``tiny_cnn.forward`` computes, in the ops and layouts that the
TFLite converter emits for a Keras model of the same shape:

    input int8 [1, S, S, 3]  (scale 1/255, zero point -128: the camera's pixel - 128)
    -> CONV_2D (3x3, stride 2, SAME, fused ReLU)      x n, per-channel int8 weights
    -> MAX_POOL_2D over the whole feature map -> RESHAPE [1, C]
    -> FULLY_CONNECTED (per-tensor int8 weights)
    -> SOFTMAX  output int8 (scale 1/256, zero point -128), as TFLite requires

Activation ranges come from a calibration batch run through the float model; weights
are symmetric (zero point 0), biases int32 at ``input_scale * weight_scale``. The file
is written with the flatbuffer schema that ships with LiteRT, so no converter (and no
TensorFlow) is needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import flatbuffers
import numpy as np
import tiny_cnn
from ai_edge_litert import schema_py_generated as tfl
from numpy.typing import NDArray

INPUT_SCALE = 1.0 / 255.0
INPUT_ZERO_POINT = -128
SOFTMAX_SCALE = 1.0 / 256.0
SOFTMAX_ZERO_POINT = -128

# Operator versions the TFLite converter writes for int8 graphs of these ops.
_OP_VERSIONS = {
    tfl.BuiltinOperator.CONV_2D: 3,
    tfl.BuiltinOperator.MAX_POOL_2D: 2,
    tfl.BuiltinOperator.RESHAPE: 1,
    tfl.BuiltinOperator.FULLY_CONNECTED: 4,
    tfl.BuiltinOperator.SOFTMAX: 2,
}


@dataclass(frozen=True)
class QParams:
    """Affine quantization of one tensor: ``real = scale * (q - zero_point)``."""

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int = 0


def activation_qparams(low: float, high: float) -> QParams:
    """Asymmetric int8 parameters covering ``[low, high]`` (always including 0)."""
    low, high = min(low, 0.0), max(high, 0.0)
    scale = max(high - low, 1e-6) / 255.0
    zero_point = int(np.clip(round(-128 - low / scale), -128, 127))
    return QParams((scale,), (zero_point,))


def quantize_weights(
    w: NDArray[np.float32], per_channel: bool
) -> tuple[NDArray[np.int8], NDArray[np.float64]]:
    """Symmetric int8 weights, one scale per output channel (axis 0) or one in all."""
    flat = np.abs(w.reshape(w.shape[0], -1)).max(axis=1)
    peak = flat if per_channel else np.full(w.shape[0], flat.max())
    scales = np.maximum(peak.astype(np.float64), 1e-8) / 127.0
    shape = (-1,) + (1,) * (w.ndim - 1)
    q = np.clip(np.rint(w / scales.reshape(shape)), -127, 127).astype(np.int8)
    return q, scales if per_channel else scales[:1]


def calibrate(folded: tiny_cnn.Params, images: NDArray[np.uint8]) -> list[QParams]:
    """Output parameters of every conv, then the logits, from a calibration batch."""
    highs = [0.0] * tiny_cnn.n_convs(folded)
    low_logit, high_logit = math.inf, -math.inf
    for start in range(0, len(images), 256):
        trace = tiny_cnn.forward(folded, tiny_cnn.to_float(images[start : start + 256]))
        highs = [max(h, float(a.max())) for h, a in zip(highs, trace.acts, strict=True)]
        low_logit = min(low_logit, float(trace.logits.min()))
        high_logit = max(high_logit, float(trace.logits.max()))
    return [activation_qparams(0.0, h) for h in highs] + [
        activation_qparams(low_logit, high_logit)
    ]


@dataclass
class _Graph:
    """Tensors, buffers and operators of one subgraph, built in order."""

    tensors: list[tfl.TensorT] = field(default_factory=list)
    buffers: list[tfl.BufferT] = field(default_factory=lambda: [tfl.BufferT()])
    operators: list[tfl.OperatorT] = field(default_factory=list)
    opcodes: list[int] = field(default_factory=list)

    def tensor(
        self,
        name: str,
        shape: tuple[int, ...],
        dtype: int,
        quant: QParams | None = None,
        data: NDArray[np.generic] | None = None,
    ) -> int:
        t = tfl.TensorT()
        t.name, t.shape, t.type = name, list(shape), dtype
        t.buffer = 0
        if data is not None:
            buf = tfl.BufferT()
            buf.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
            self.buffers.append(buf)
            t.buffer = len(self.buffers) - 1
        if quant is not None:
            q = tfl.QuantizationParametersT()
            q.scale = list(quant.scale)
            q.zeroPoint = list(quant.zero_point)
            q.quantizedDimension = quant.axis
            t.quantization = q
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(
        self,
        code: int,
        inputs: list[int],
        outputs: list[int],
        options_type: int,
        options: object,
    ) -> None:
        if code not in self.opcodes:
            self.opcodes.append(code)
        o = tfl.OperatorT()
        o.opcodeIndex = self.opcodes.index(code)
        o.inputs, o.outputs = inputs, outputs
        o.builtinOptionsType, o.builtinOptions = options_type, options
        self.operators.append(o)


def _conv_options() -> tfl.Conv2DOptionsT:
    opts = tfl.Conv2DOptionsT()
    opts.padding = tfl.Padding.SAME
    opts.strideW = opts.strideH = tiny_cnn.STRIDE
    opts.dilationWFactor = opts.dilationHFactor = 1
    opts.fusedActivationFunction = tfl.ActivationFunctionType.RELU
    return opts


def build_tflite(
    folded: tiny_cnn.Params,
    calibration: NDArray[np.uint8],
    size: int,
    description: str = "edgeinfer demo classifier",
) -> bytes:
    """Quantize ``folded`` with ``calibration`` images and return the .tflite bytes."""
    out_params = calibrate(folded, calibration)
    g = _Graph()
    i8, i32 = tfl.TensorType.INT8, tfl.TensorType.INT32
    in_q = QParams((INPUT_SCALE,), (INPUT_ZERO_POINT,))
    x = g.tensor("image", (1, size, size, 3), i8, in_q)
    graph_input, h, q_in = x, size, in_q
    for i in range(tiny_cnn.n_convs(folded)):
        w_q, w_scales = quantize_weights(folded[f"conv{i}.w"], per_channel=True)
        channels = w_q.shape[0]
        b_scales = q_in.scale[0] * w_scales
        b_q = np.rint(folded[f"conv{i}.b"] / b_scales).astype(np.int32)
        w = g.tensor(
            f"conv{i}/weights",
            w_q.shape,
            i8,
            QParams(tuple(w_scales), (0,) * channels, axis=0),
            w_q,
        )
        b = g.tensor(
            f"conv{i}/bias",
            (channels,),
            i32,
            QParams(tuple(b_scales), (0,) * channels, axis=0),
            b_q,
        )
        h = math.ceil(h / tiny_cnn.STRIDE)
        y = g.tensor(f"conv{i}/relu", (1, h, h, channels), i8, out_params[i])
        g.op(
            tfl.BuiltinOperator.CONV_2D,
            [x, w, b],
            [y],
            tfl.BuiltinOptions.Conv2DOptions,
            _conv_options(),
        )
        x, q_in = y, out_params[i]

    pool_opts = tfl.Pool2DOptionsT()
    pool_opts.padding = tfl.Padding.VALID
    pool_opts.strideW = pool_opts.strideH = 1
    pool_opts.filterWidth = pool_opts.filterHeight = h
    pool_opts.fusedActivationFunction = tfl.ActivationFunctionType.NONE
    channels = folded["fc.w"].shape[1]
    pooled = g.tensor("pool", (1, 1, 1, channels), i8, q_in)
    g.op(
        tfl.BuiltinOperator.MAX_POOL_2D,
        [x],
        [pooled],
        tfl.BuiltinOptions.Pool2DOptions,
        pool_opts,
    )
    reshape_opts = tfl.ReshapeOptionsT()
    reshape_opts.newShape = [1, channels]
    shape = g.tensor(
        "flatten/shape", (2,), i32, None, np.array([1, channels], np.int32)
    )
    flat = g.tensor("flatten", (1, channels), i8, q_in)
    g.op(
        tfl.BuiltinOperator.RESHAPE,
        [pooled, shape],
        [flat],
        tfl.BuiltinOptions.ReshapeOptions,
        reshape_opts,
    )

    fc_q, fc_scale = quantize_weights(folded["fc.w"], per_channel=False)
    classes = fc_q.shape[0]
    fc_bias_scale = q_in.scale[0] * float(fc_scale[0])
    fc_w = g.tensor(
        "logits/weights", fc_q.shape, i8, QParams((float(fc_scale[0]),), (0,)), fc_q
    )
    fc_b = g.tensor(
        "logits/bias",
        (classes,),
        i32,
        QParams((fc_bias_scale,), (0,)),
        np.rint(folded["fc.b"] / fc_bias_scale).astype(np.int32),
    )
    logits = g.tensor("logits", (1, classes), i8, out_params[-1])
    fc_opts = tfl.FullyConnectedOptionsT()
    fc_opts.fusedActivationFunction = tfl.ActivationFunctionType.NONE
    g.op(
        tfl.BuiltinOperator.FULLY_CONNECTED,
        [flat, fc_w, fc_b],
        [logits],
        tfl.BuiltinOptions.FullyConnectedOptions,
        fc_opts,
    )
    probs = g.tensor(
        "scores",
        (1, classes),
        i8,
        QParams((SOFTMAX_SCALE,), (SOFTMAX_ZERO_POINT,)),
    )
    softmax_opts = tfl.SoftmaxOptionsT()
    softmax_opts.beta = 1.0
    g.op(
        tfl.BuiltinOperator.SOFTMAX,
        [logits],
        [probs],
        tfl.BuiltinOptions.SoftmaxOptions,
        softmax_opts,
    )
    return _serialize(g, graph_input, probs, description)


def _serialize(g: _Graph, graph_input: int, output: int, description: str) -> bytes:
    subgraph = tfl.SubGraphT()
    subgraph.name = "main"
    subgraph.tensors, subgraph.operators = g.tensors, g.operators
    subgraph.inputs, subgraph.outputs = [graph_input], [output]
    model = tfl.ModelT()
    model.version = 3
    model.description = description
    model.subgraphs = [subgraph]
    model.buffers = g.buffers
    codes = []
    for code in g.opcodes:
        oc = tfl.OperatorCodeT()
        oc.builtinCode = code
        oc.deprecatedBuiltinCode = code
        oc.version = _OP_VERSIONS[code]
        codes.append(oc)
    model.operatorCodes = codes
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def build_mlp_tflite(
    layers: list[tuple[NDArray[np.float32], NDArray[np.float32]]],
    calibration: NDArray[np.float32],
    description: str = "edgeinfer sensor forecaster",
) -> bytes:
    """Quantize a ReLU multilayer perceptron to a full-integer .tflite.

    ``layers`` are (weights [out, in], bias [out]) pairs; every layer but the last is
    followed by ReLU. ``calibration`` (N, in) float inputs fix every activation range,
    the input's included (asymmetric int8). Input and output are int8 [1, in] and
    [1, out] with their scale and zero point in the file, so edgeinfer quantizes and
    dequantizes them like any other model.
    """
    acts = [calibration.astype(np.float32)]
    for i, (w, b) in enumerate(layers):
        z = acts[-1] @ w.T + b
        acts.append(np.maximum(z, 0.0) if i < len(layers) - 1 else z)
    qs = [activation_qparams(float(a.min()), float(a.max())) for a in acts]
    g = _Graph()
    i8, i32 = tfl.TensorType.INT8, tfl.TensorType.INT32
    x = g.tensor("window", (1, layers[0][0].shape[1]), i8, qs[0])
    graph_input = x
    for i, (w, b) in enumerate(layers):
        w_q, w_scale = quantize_weights(w, per_channel=False)
        bias_scale = qs[i].scale[0] * float(w_scale[0])
        wt = g.tensor(
            f"dense{i}/weights", w_q.shape, i8, QParams((float(w_scale[0]),), (0,)), w_q
        )
        bt = g.tensor(
            f"dense{i}/bias",
            (w.shape[0],),
            i32,
            QParams((bias_scale,), (0,)),
            np.rint(b / bias_scale).astype(np.int32),
        )
        last = i == len(layers) - 1
        y = g.tensor(
            "forecast" if last else f"dense{i}", (1, w.shape[0]), i8, qs[i + 1]
        )
        opts = tfl.FullyConnectedOptionsT()
        opts.fusedActivationFunction = (
            tfl.ActivationFunctionType.NONE if last else tfl.ActivationFunctionType.RELU
        )
        g.op(
            tfl.BuiltinOperator.FULLY_CONNECTED,
            [x, wt, bt],
            [y],
            tfl.BuiltinOptions.FullyConnectedOptions,
            opts,
        )
        x = y
    return _serialize(g, graph_input, x, description)
