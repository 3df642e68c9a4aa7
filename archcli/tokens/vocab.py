"""The vocabulary: strings, and a table of lexical attributes computed once per distinct word.

A Doc stores, per token, the row of its word in `Vocab.lex_attrs`; extracting NORM/PREFIX/… for
a whole batch is then one `take` on that table.
"""
from typing import Dict, List, Optional, Sequence

import numpy

from . import attrs
from .strings import StringStore
from .vectors import Vectors

_LEX_FUNCS = {
    attrs.ORTH: lambda text: text,
    attrs.LOWER: attrs.lower,
    attrs.NORM: attrs.norm,
    attrs.PREFIX: attrs.prefix,
    attrs.SUFFIX: attrs.suffix,
    attrs.SHAPE: attrs.shape,
}


class Vocab:
    def __init__(self, strings: Optional[StringStore] = None) -> None:
        self.strings = strings if strings is not None else StringStore()
        self._lex_index: Dict[str, int] = {}
        self._words: List[str] = []
        self.lex_attrs = numpy.zeros((1024, len(attrs.LEX_ATTRS)), dtype="uint64")
        self.vectors = Vectors()
        self._vector_rows: Dict[int, numpy.ndarray] = {}
        self._char_tables: Dict[int, numpy.ndarray] = {}

    def __len__(self) -> int:
        return len(self._words)

    def word(self, lex_id: int) -> str:
        return self._words[lex_id]

    def lex_id(self, text: str) -> int:
        """Row of `text` in the lexeme table, adding it (and its attributes) on first sight."""
        row = self._lex_index.get(text)
        if row is None:
            row = len(self._words)
            if row >= self.lex_attrs.shape[0]:
                grown = numpy.zeros((row * 2, self.lex_attrs.shape[1]), dtype="uint64")
                grown[:row] = self.lex_attrs[:row]
                self.lex_attrs = grown
            table_row = self.lex_attrs[row]
            table_row[attrs.LEX_COLUMN[attrs.ID]] = row
            for attr, func in _LEX_FUNCS.items():
                table_row[attrs.LEX_COLUMN[attr]] = self.strings.add(func(text))
            self._lex_index[text] = row
            self._words.append(text)
        return row

    def lex_ids(self, words: Sequence[str]) -> numpy.ndarray:
        index = self._lex_index
        out = numpy.empty((len(words),), dtype="int32")
        for i, word in enumerate(words):
            row = index.get(word)
            out[i] = row if row is not None else self.lex_id(word)
        return out

    def attr_column(self, attr: int) -> numpy.ndarray:
        """One lexical attribute for every word in the vocab (uint64 hashes; ID is the row)."""
        return self.lex_attrs[: len(self._words), attrs.LEX_COLUMN[attr]]

    def set_vectors(self, vectors: Vectors) -> None:
        self.vectors = vectors
        self._vector_rows = {}

    def vector_rows(self, key_attr: int) -> numpy.ndarray:
        """Vectors-table row (-1 when absent) of every word's `key_attr` string."""
        cached = self._vector_rows.get(key_attr, numpy.zeros((0,), dtype="int64"))
        n_words = len(self._words)
        if cached.shape[0] < n_words:
            start = cached.shape[0]
            keys = self.attr_column(key_attr)[start:]
            find = self.vectors.key2row.get
            extra = numpy.fromiter((find(int(k), -1) for k in keys), dtype="int64", count=len(keys))
            cached = numpy.concatenate([cached, extra])
            self._vector_rows[key_attr] = cached
        return cached

    def char_table(self, n_chars: int) -> numpy.ndarray:
        """(n_words, n_chars) uint8 array: each word's first and last n_chars/2 UTF-8 bytes.

        Words shorter than n_chars/2 are zero-padded in the middle; the two halves may overlap,
        so the final byte always sits in the last column, as CharacterEmbed expects.
        """
        cached = self._char_tables.get(n_chars, numpy.zeros((0, n_chars), dtype="uint8"))
        n_words = len(self._words)
        if cached.shape[0] < n_words:
            start = cached.shape[0]
            extra = numpy.zeros((n_words - start, n_chars), dtype="uint8")
            n_front = (n_chars + 1) // 2
            n_back = n_chars - n_front
            for i, word in enumerate(self._words[start:]):
                data = word.encode("utf8")
                front = data[:n_front]
                extra[i, : len(front)] = numpy.frombuffer(front, dtype="uint8")
                if n_back:
                    back = data[-n_back:]
                    if back:
                        extra[i, n_chars - len(back) :] = numpy.frombuffer(back, dtype="uint8")
            cached = numpy.concatenate([cached, extra])
            self._char_tables[n_chars] = cached
        return cached

    def to_bytes_strings(self) -> List[str]:
        return self.strings.to_list()
