"""One member's parameters as a flat row: their names, shapes and offsets, in the order of
Regressor.parameters() and its state_dict (standard library only: the memory budget reads
it before torch is imported)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

GATES = {"lstm": 4, "gru": 3, "rnn": 1}  # weight blocks a layer's cell has


def numel(shape) -> int:
    """Elements in a tensor of this shape."""
    return math.prod(shape)


@dataclass(frozen=True)
class Layout:
    """Where each of one member's parameters lives in its flat row, in the order (and with
    the names and shapes) of Regressor.parameters() and its state_dict."""

    cell: str
    hidden: int
    layers: int

    @property
    def entries(self) -> list[tuple[str, tuple[int, ...], int]]:
        G, H = GATES[self.cell], self.hidden
        out, off = [], 0
        for k in range(self.layers):
            inp = 1 if k == 0 else H
            for name, shape in ((f"rnn.weight_ih_l{k}", (G * H, inp)),
                                (f"rnn.weight_hh_l{k}", (G * H, H)),
                                (f"rnn.bias_ih_l{k}", (G * H,)),
                                (f"rnn.bias_hh_l{k}", (G * H,))):
                out.append((name, shape, off))
                off += numel(shape)
        for name, shape in (("head.weight", (1, H)), ("head.bias", (1,))):
            out.append((name, shape, off))
            off += numel(shape)
        return out

    @property
    def size(self) -> int:
        name, shape, off = self.entries[-1]
        return off + numel(shape)

    def views(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each parameter of every member as a (K, *shape) view into flat (K, P)."""
        K = flat.shape[0]
        return {name: flat[:, off:off + numel(shape)].view(K, *shape)
                for name, shape, off in self.entries}

    def frozen(self, name: str, init: str) -> bool:
        """Keras's LSTM and SimpleRNN have one bias: under init=keras bias_hh stays zero and
        frozen (model.keras_init); every other parameter trains."""
        return init == "keras" and self.cell != "gru" and name.startswith("rnn.bias_hh")
