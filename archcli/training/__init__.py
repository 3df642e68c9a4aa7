"""Readers, Example, batchers, loggers and the training loop."""
from . import batchers, corpus, labels, loggers  # noqa: F401
from .conllu import read_conllu
from .corpus import Corpus
from ..tokens.example import Example

__all__ = ["Example", "Corpus", "read_conllu"]
