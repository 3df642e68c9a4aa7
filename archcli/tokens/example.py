"""Example: a predicted doc (what the pipeline writes to) paired with its gold reference."""
from typing import Optional

from ..errors import ArchcliError
from .alignment import Alignment, project
from .doc import Doc


class Example:
    """`predicted` (what the pipeline writes to) and `reference`, the gold annotation on the
    predicted doc's tokens. When the two docs are tokenised differently (a re-tokenised raw text),
    `gold` keeps the corpus's own doc and `reference` is its projection through `alignment`
    (annotation only where tokens align one-to-one, see tokens/alignment.py); otherwise `gold` is
    `reference` and `alignment` is None."""

    __slots__ = ("predicted", "reference", "source", "gold", "alignment")

    def __init__(self, predicted: Doc, reference: Doc, source: Optional[str] = None) -> None:
        self.predicted = predicted
        self.source = source
        self.gold = reference
        if len(predicted) == len(reference) and (predicted.lex == reference.lex).all():
            self.alignment: Optional[Alignment] = None
            self.reference = reference
            return
        try:
            self.alignment = Alignment.from_words(predicted.words, reference.words)
        except ValueError as err:
            raise ArchcliError(f"the predicted and gold docs do not align: {err} (do the corpus's words "
                               "spell its text?)", where=source or "example") from None
        self.reference = project(reference, predicted, self.alignment)

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
        return Example(self.predicted.copy(), self.gold.copy(), self.source)


def copy_gold_sentences(examples) -> None:
    """Gold sentence starts onto predicted docs that have none: for components that read sentences
    as input (the entity linker's context, the span resolver's candidates) when nothing earlier in
    the pipeline sets them; a predicted doc's own boundaries are kept."""
    for eg in examples:
        pred, gold = eg.predicted, eg.reference
        if len(pred) == len(gold) and not pred.sent_start.any() and gold.sent_start.any():
            pred.sent_start = gold.sent_start.copy()
