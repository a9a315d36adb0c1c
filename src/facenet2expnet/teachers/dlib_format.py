"""Our own reader for dlib's binary serialization of its ResNet-29 face recognition net.

No dlib needed. What we read (dlib's ``serialize``, little endian):

* integers: one byte whose low 4 bits give the number of bytes that follow and whose bit 7
  marks a negative value, then the magnitude, little endian;
* strings: an integer length, then the bytes; ``bool``: one character '0' or '1';
* ``float``/``double``: an int64 mantissa and an int16 exponent (value = m * 2**e);
* tensors: version 2, then num_samples, k, nr, nc, then raw little-endian float32 values;
* alias tensors (views into a layer's params): version 1, then the four sizes.

A network file is the loss layer, then one version integer per nested layer (outermost
first), then the input layer, then every layer's details from the input upwards, each
followed by its state: three bools and three (usually empty) tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import FaceNet2ExpNetError


class DlibFormatError(FaceNet2ExpNetError):
    pass


@dataclass
class DlibLayer:
    kind: str  # "con", "affine", "relu", "max_pool", "avg_pool", "add_prev", "fc"
    params: np.ndarray | None = None
    fields: dict = field(default_factory=dict)


class _Reader:
    def __init__(self, data: bytes, path: str):
        self.b, self.i, self.path = data, 0, path

    def fail(self, what: str):
        raise DlibFormatError(
            f"{self.path}: unsupported dlib network file: {what} at byte {self.i}; "
            "expected dlib_face_recognition_resnet_model_v1.dat"
        )

    def int(self) -> int:
        if self.i >= len(self.b):
            self.fail("unexpected end of file")
        head = self.b[self.i]
        n, neg = head & 0x0F, bool(head & 0x80)
        if n > 8:
            self.fail(f"integer header {head:#x}")
        val = int.from_bytes(self.b[self.i + 1 : self.i + 1 + n], "little")
        self.i += 1 + n
        return -val if neg else val

    def string(self) -> str:
        n = self.int()
        if not 0 < n < 256:
            self.fail(f"string length {n}")
        s = self.b[self.i : self.i + n]
        self.i += n
        try:
            return s.decode("ascii")
        except UnicodeDecodeError:
            self.fail("non-ASCII layer name")

    def boolean(self) -> bool:
        c = self.b[self.i : self.i + 1]
        if c not in (b"0", b"1"):
            self.fail(f"bool byte {c!r}")
        self.i += 1
        return c == b"1"

    def real(self) -> float:
        mantissa, exponent = self.int(), self.int()
        return float(mantissa) * 2.0**exponent

    def tensor(self) -> np.ndarray:
        if self.int() != 2:
            self.fail("tensor version (expected 2)")
        shape = tuple(self.int() for _ in range(4))
        n = int(np.prod(shape))
        end = self.i + 4 * n
        if end > len(self.b):
            self.fail(f"tensor of shape {shape} runs past the end of the file")
        arr = np.frombuffer(self.b, dtype="<f4", count=n, offset=self.i).reshape(shape).astype(np.float32)
        self.i = end
        return arr

    def alias(self) -> tuple[int, int, int, int]:
        if self.int() != 1:
            self.fail("alias tensor version (expected 1)")
        return tuple(self.int() for _ in range(4))


def _read_details(r: _Reader, name: str) -> DlibLayer:
    if name == "con_4":
        params = r.tensor()
        f = dict(
            num_filters=r.int(),
            nr=r.int(),
            nc=r.int(),
            stride_y=r.int(),
            stride_x=r.int(),
            padding_y=r.int(),
            padding_x=r.int(),
        )
        f["filters"], f["biases"] = r.alias(), r.alias()
        f.update(_multipliers(r))
        return DlibLayer("con", params.reshape(-1), f)
    if name == "affine_":
        params = r.tensor()
        f = {"gamma": r.alias(), "beta": r.alias(), "mode": r.int()}
        return DlibLayer("affine", params.reshape(-1), f)
    if name == "relu_":
        return DlibLayer("relu")
    if name in ("max_pool_2", "avg_pool_2"):
        f = dict(nr=r.int(), nc=r.int(), stride_y=r.int(), stride_x=r.int(), padding_y=r.int(), padding_x=r.int())
        return DlibLayer(name[:-2], None, f)
    if name == "add_prev_":
        return DlibLayer("add_prev")
    if name == "fc_2":
        f = {"num_outputs": r.int(), "num_inputs": r.int()}
        params = r.tensor()
        f["weights"], f["biases"] = r.alias(), r.alias()
        f["bias_mode"] = r.int()
        f.update(_multipliers(r))
        return DlibLayer("fc", params.reshape(params.shape[0], params.shape[1]), f)
    r.fail(f"layer type {name!r} (this reader knows con_4, affine_, relu_, max_pool_2, avg_pool_2, add_prev_, fc_2)")


def read_dlib_network(path: str) -> tuple[dict, list[DlibLayer]]:
    """Parse a dlib network file into its input settings and its layers, input first."""
    with open(path, "rb") as f:
        r = _Reader(f.read(), path)
    r.int()  # add_loss_layer version
    loss = r.string()
    if not loss.startswith("loss_metric"):
        r.fail(f"loss layer {loss!r}")
    r.real(), r.real()  # margin, distance threshold of the metric loss: not needed for inference
    # One version integer (1-3) per nested layer, then the input layer's name.
    while True:
        v = r.int()
        if v not in (1, 2, 3):  # add_tag_layer 1, add_layer 2, the add_layer over the input 3
            r.i -= 2  # v was the name's length: step back over its 2-byte header
            break
    name = r.string()
    if name != "input_rgb_image_sized":
        r.fail(f"input layer {name!r}")
    input_info = {"mean_rgb": (r.real(), r.real(), r.real()), "size": (r.int(), r.int())}
    layers = []
    while r.i < len(r.b):
        layer = _read_details(r, r.string())
        for _ in range(3):  # this_layer_setup_called, gradient_input_is_stale, get_output_and_gradient_input_disabled
            r.boolean()
        for _ in range(3):  # x_grad, cached_output, params_grad: training state, ignored
            r.tensor()
        if not layers:  # the layer right above the input (version 3) also stores its sample expansion factor
            r.int()
        layers.append(layer)
    return input_info, layers


def _multipliers(r) -> dict:
    """The four learning-rate and weight-decay multipliers that dlib stores after a con_ or fc_ layer's parameters."""
    names = (
        "learning_rate_multiplier",
        "weight_decay_multiplier",
        "bias_learning_rate_multiplier",
        "bias_weight_decay_multiplier",
    )
    return {k: r.real() for k in names}  # read in this order
