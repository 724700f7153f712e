"""Data a reward transform is built from (demonstrations, preference sets), as hyperparameter leaves.

An array a transform closes over is part of what it computes, so it is part of its identity.
``Data`` holds such arrays among the transform's ``hparams``:

* it is per variant: variants of one program may hold different data of equal shapes ("GAIL from
  demonstrations A vs B" is one compile), and each variant runs on its own;
* it travels with the run's state and checkpoints, like every hyperparameter;
* ``describe`` shows it by content, ``sha256:1a2b3c4d5e6f[500 steps]``, and ``resume`` compares
  descriptions, so a run resumed with other data of the same size is refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

DIGEST_CHARS = 12


@jax.tree_util.register_pytree_with_keys_class
class Data:
    """Named arrays with a common leading axis of ``unit`` (e.g. 500 ``steps``), as float32 leaves."""

    __slots__ = ("arrays", "unit")

    def __init__(self, arrays: Mapping[str, Any], unit: str):
        self.arrays = dict(sorted(arrays.items()))
        self.unit = unit

    def __getitem__(self, name: str) -> Any:
        return self.arrays[name]

    @property
    def count(self) -> int:
        """The length of the leading axis (steps, pairs): what ``describe`` shows beside the digest."""
        return int(np.shape(next(iter(self.arrays.values())))[0]) if self.arrays else 0

    def digest(self) -> str:
        """sha256 of the arrays' names, shapes and float32 values (the form the program sees)."""
        h = hashlib.sha256()
        for name, value in self.arrays.items():
            value = np.ascontiguousarray(np.asarray(value, np.float32))
            h.update(f"{name}{value.shape}".encode())
            h.update(value.tobytes())
        return h.hexdigest()[:DIGEST_CHARS]

    def __repr__(self) -> str:
        return f"sha256:{self.digest()}[{self.count} {self.unit}]"

    def tree_flatten_with_keys(self):
        keys = tuple(self.arrays)
        return tuple((jax.tree_util.DictKey(k), self.arrays[k]) for k in keys), (keys, self.unit)

    @classmethod
    def tree_unflatten(cls, aux, children):
        keys, unit = aux
        return cls(dict(zip(keys, children)), unit)


def is_data(x: Any) -> bool:
    return isinstance(x, Data)
