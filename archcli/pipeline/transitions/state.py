"""A batch of parse states held as arrays, one row per state, so a step is a few array ops."""
from typing import Dict, Sequence

import numpy


class StateBatch:
    """Per-row arrays; token indices are doc-local, -1 = none.

    Fields shared by both transition systems: `doc` (which doc of the batch the row parses),
    `length` (where the row's buffer ends), `b0` (buffer front), `n_moves`; the systems add their
    own (stack, heads, entities…). Arrays are attributes, for cheap access in the step loop.
    """

    def __init__(self, arrays: Dict[str, numpy.ndarray]) -> None:
        self.names = list(arrays)
        self.__dict__.update(arrays)

    @property
    def arrays(self) -> Dict[str, numpy.ndarray]:
        return {name: self.__dict__[name] for name in self.names}

    def __len__(self) -> int:
        return self.doc.shape[0]

    def take(self, rows: numpy.ndarray) -> "StateBatch":
        """A copy of the given rows."""
        return StateBatch({name: array[rows].copy() for name, array in self.arrays.items()})

    @staticmethod
    def concat(batches: Sequence["StateBatch"]) -> "StateBatch":
        names = batches[0].names
        return StateBatch({name: numpy.concatenate([b.__dict__[name] for b in batches]) for name in names})

    def is_final(self) -> numpy.ndarray:
        final = self.b0 >= self.length
        # Arc-eager rows also end with an empty stack and no unshifted words left.
        if "n_rebuffer" in self.names:
            final &= (self.__dict__["n_rebuffer"] == 0) & (self.__dict__["depth"] == 0)
        return final

    def is_active(self) -> numpy.ndarray:
        """Rows still to be advanced: not final, and (in training stretches) under their move limit."""
        active = ~self.is_final()
        if "move_limit" in self.names:
            active &= self.n_moves < self.__dict__["move_limit"]
        return active
