"""Example: a predicted doc (what the pipeline writes to) paired with its gold reference."""
from typing import Optional

from ..errors import ArchcliError
from .doc import Doc


class Example:
    __slots__ = ("predicted", "reference", "source")

    def __init__(self, predicted: Doc, reference: Doc, source: Optional[str] = None) -> None:
        if len(predicted) != len(reference) or (predicted.lex != reference.lex).any():
            where = source or "example"
            raise ArchcliError(
                "the predicted and gold docs are tokenised differently "
                f"({len(predicted)} vs {len(reference)} tokens: {predicted.text[:60]!r}); "
                "archcli aligns only identical tokenisations so far",
                where=where,
            )
        self.predicted = predicted
        self.reference = reference
        self.source = source

    @classmethod
    def from_gold(cls, reference: Doc, source: Optional[str] = None) -> "Example":
        """An example whose predicted side has the gold words and no annotations."""
        return cls(reference.copy(annotations=False), reference, source)

    @property
    def x(self) -> Doc:
        return self.predicted

    @property
    def y(self) -> Doc:
        return self.reference

    def __len__(self) -> int:
        return len(self.predicted)

    def copy(self) -> "Example":
        return Example(self.predicted.copy(), self.reference.copy(), self.source)


def copy_gold_sentences(examples) -> None:
    """Gold sentence starts onto predicted docs that have none: for components that read sentences
    as input (the entity linker's context, the span resolver's candidates) when nothing earlier in
    the pipeline sets them; a predicted doc's own boundaries are kept."""
    for eg in examples:
        pred, gold = eg.predicted, eg.reference
        if len(pred) == len(gold) and not pred.sent_start.any() and gold.sent_start.any():
            pred.sent_start = gold.sent_start.copy()
