"""Graph rewrites that keep an exported model's outputs bit for bit and make it faster on CPU.

One rewrite today: a 2-D max pooling whose windows tile the input (kernel = stride, no padding,
no dilation, sides divisible by the kernel) becomes a Reshape and a ReduceMax::

    x: N x C x H x W  ->  Reshape  N x C x H/k x k x W/k x k  ->  ReduceMax over axes 3 and 5  ->  N x C x H/k x W/k

The max over each window is the same numbers in the same order, so the output is identical (float and
uint8 alike). Why: onnxruntime's MaxPool kernel took 13% of `fer2013-fn2en-accurate-int8` at batch 1 on one
core for the first pool alone (a 32 x 48 x 48 float map), and the rewrite made the whole model 12-17% faster
(alternating rounds of ``benchmarks/inference.py`` in three runs; see docs/models.md). The Reshape is a view,
and the reduction over two short inner axes is a simple loop.

The rewrite needs each pool's input shape (C, H and W). A float export has them through ONNX shape
inference; a quantized graph mixes in onnxruntime's own operators, so its pools take their shapes from the
float model it was quantized from (same node names), via ``shapes_from``.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import FaceNet2ExpNetError


def _pool_input_shapes(model) -> dict[str, list[int | None]]:
    """MaxPool node name -> its input's shape (None for unknown dims), from ONNX shape inference."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    dims = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        shape = vi.type.tensor_type.shape
        dims[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in shape.dim]
    return {n.name: dims.get(n.input[0]) for n in inferred.graph.node if n.op_type == "MaxPool"}


def _tiles(node, shape) -> int | None:
    """The window side k when ``node`` is a k x k, stride-k max pooling that tiles ``shape`` exactly."""
    from onnx import helper

    a = {x.name: helper.get_attribute_value(x) for x in node.attribute}
    k = a.get("kernel_shape")
    if not k or len(k) != 2 or k[0] != k[1] or len(node.output) != 1:
        return None
    if list(a.get("strides", [1, 1])) != list(k) or any(a.get("pads", [0] * 4)) or a.get("ceil_mode", 0):
        return None
    if any(d != 1 for d in a.get("dilations", [1, 1])) or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        return None
    if shape is None or len(shape) != 4 or any(d is None for d in shape[1:]):
        return None
    _, _, h, w = shape
    return k[0] if h % k[0] == 0 and w % k[0] == 0 else None


def pools_as_reduce_max(path: str, shapes_from: str | None = None) -> list[str]:
    """Rewrite the tiling max poolings of the ONNX file at ``path`` in place (atomically); return their names.

    ``shapes_from``: an ONNX file with the same MaxPool node names whose shapes ONNX can infer (the float
    model a quantized one came from); default ``path`` itself.
    """
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(path)
    shapes = _pool_input_shapes(onnx.load(shapes_from) if shapes_from else model)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None:
        raise FaceNet2ExpNetError(f"{path}: no default-domain opset import; is this an ONNX model?")
    graph, nodes, done = model.graph, [], []
    for node in graph.node:
        k = _tiles(node, shapes.get(node.name)) if node.op_type == "MaxPool" else None
        if k is None:
            nodes.append(node)
            continue
        _, c, h, w = shapes[node.name]
        windows = node.name + "/windows"
        target = numpy_helper.from_array(np.array([0, c, h // k, k, w // k, k], np.int64), node.name + "/window_shape")
        graph.initializer.append(target)  # 0 keeps the batch dimension dynamic
        nodes.append(helper.make_node("Reshape", [node.input[0], target.name], [windows], name=node.name + "/reshape"))
        if opset >= 18:  # axes became an input in opset 18
            axes = numpy_helper.from_array(np.array([3, 5], np.int64), node.name + "/window_axes")
            graph.initializer.append(axes)
            reduce = helper.make_node("ReduceMax", [windows, axes.name], list(node.output), keepdims=0)
        else:
            reduce = helper.make_node("ReduceMax", [windows], list(node.output), axes=[3, 5], keepdims=0)
        reduce.name = node.name + "/reduce_max"
        nodes.append(reduce)
        done.append(node.name)
    if done:
        del graph.node[:]
        graph.node.extend(nodes)
        tmp = path + ".tmp"
        onnx.save(model, tmp)
        os.replace(tmp, path)
    return done
