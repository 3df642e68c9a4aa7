"""Aligning two tokenisations of one text, and projecting gold annotation across them.

A predicted doc (the tokenizer's tokens of the raw text) and a gold doc (the corpus's tokens)
spell the same characters once whitespace is left out. Each non-whitespace character belongs to
one token on each side, so one linear pass over the characters gives every (predicted, gold)
token pair that share characters: many-to-one, one-to-many and crossing tokens fall out of the
same arrays. Annotation travels only between tokens aligned one-to-one (the same characters on
both sides); elsewhere it is missing, never guessed.
"""
import re
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy

from .doc import Doc, Span

_SPACE = re.compile(r"\s")


@dataclass(frozen=True)
class Alignment:
    """Token pairs sharing characters, and the one-to-one map both ways (-1: none)."""

    pairs: numpy.ndarray  # (n_pairs, 2): predicted index, gold index; sorted
    x_to_y: numpy.ndarray  # predicted token -> its one-to-one gold token, or -1
    y_to_x: numpy.ndarray  # gold token -> its one-to-one predicted token, or -1
    x_starts: numpy.ndarray  # each predicted token's first character, whitespace left out
    x_ends: numpy.ndarray
    y_starts: numpy.ndarray
    y_ends: numpy.ndarray

    @classmethod
    def from_words(cls, x_words: Sequence[str], y_words: Sequence[str]) -> "Alignment":
        """Align two token sequences; ValueError naming the first character where they differ."""
        x_text, x_lengths = _stripped(x_words)
        y_text, y_lengths = _stripped(y_words)
        if x_text != y_text:
            at = next((i for i, (a, b) in enumerate(zip(x_text, y_text)) if a != b), min(len(x_text), len(y_text)))
            raise ValueError(f"the two tokenisations spell different texts from non-space character {at}: "
                             f"{x_text[max(at - 10, 0):at + 15]!r} vs {y_text[max(at - 10, 0):at + 15]!r}")
        x_owner = numpy.repeat(numpy.arange(len(x_words), dtype="int64"), x_lengths)
        y_owner = numpy.repeat(numpy.arange(len(y_words), dtype="int64"), y_lengths)
        if len(x_owner):
            change = numpy.ones(len(x_owner), dtype=bool)
            change[1:] = (x_owner[1:] != x_owner[:-1]) | (y_owner[1:] != y_owner[:-1])
            pairs = numpy.stack([x_owner[change], y_owner[change]], axis=1)
        else:
            pairs = numpy.zeros((0, 2), dtype="int64")
        x_count = numpy.bincount(pairs[:, 0], minlength=len(x_words))
        y_count = numpy.bincount(pairs[:, 1], minlength=len(y_words))
        one = (x_count[pairs[:, 0]] == 1) & (y_count[pairs[:, 1]] == 1)
        x_to_y = numpy.full(len(x_words), -1, dtype="int64")
        y_to_x = numpy.full(len(y_words), -1, dtype="int64")
        x_to_y[pairs[one, 0]] = pairs[one, 1]
        y_to_x[pairs[one, 1]] = pairs[one, 0]
        x_ends, y_ends = numpy.cumsum(x_lengths), numpy.cumsum(y_lengths)
        return cls(pairs, x_to_y, y_to_x, x_ends - x_lengths, x_ends, y_ends - y_lengths, y_ends)

    @property
    def n_one_to_one(self) -> int:
        return int((self.x_to_y >= 0).sum())

    def x_span(self, y_start: int, y_end: int) -> Optional[Tuple[int, int]]:
        """The predicted tokens [i, j) covering exactly gold tokens [y_start, y_end), or None
        when the span's edges fall inside predicted tokens."""
        if y_end <= y_start:
            return None
        first, last = self.y_starts[y_start], self.y_ends[y_end - 1]
        # Whitespace tokens own no characters: the real token is the last with this start and
        # the first with this end.
        i = int(numpy.searchsorted(self.x_starts, first, side="right")) - 1
        j = int(numpy.searchsorted(self.x_ends, last, side="left"))
        if i < 0 or j >= len(self.x_ends) or self.x_starts[i] != first or self.x_ends[j] != last or j < i:
            return None
        return i, j + 1


def _stripped(words: Sequence[str]) -> Tuple[str, numpy.ndarray]:
    """The words' characters without whitespace, and each word's share of them."""
    pieces = [_SPACE.sub("", w) if _SPACE.search(w) else w for w in words]
    return "".join(pieces), numpy.fromiter((len(p) for p in pieces), dtype="int64", count=len(pieces))


def project(gold: Doc, predicted: Doc, alignment: Alignment) -> Doc:
    """`gold`'s annotation on `predicted`'s tokens: token attributes and heads where tokens align
    one-to-one (a head also needs its head aligned), entities and spans whose edges fall on
    predicted token edges; the rest is missing (tokens under a misaligned entity are marked
    unknown for NER in `user_data["ents_missing"]`). Categories are copied."""
    out = Doc(predicted.vocab, predicted.words, predicted.spaces.tolist())
    idx = alignment.x_to_y
    ok = numpy.flatnonzero(idx >= 0)
    src = idx[ok]
    for name in ("tag", "pos", "lemma", "morph", "sent_start"):
        values = getattr(out, name).copy()
        values[ok] = getattr(gold, name)[src]
        setattr(out, name, values)
    gold_heads = gold.head[src]
    heads_x = alignment.y_to_x[gold_heads]
    good = (heads_x >= 0) & (gold.dep[src] != 0)
    head, dep = out.head.copy(), out.dep.copy()
    head[ok[good]] = heads_x[good]
    dep[ok[good]] = gold.dep[src[good]]
    out.head, out.dep = head, dep
    missing = numpy.zeros(len(out), dtype=bool)
    ents: List[Span] = []
    for ent in gold.ents:
        span = alignment.x_span(ent.start, ent.end)
        if span is None:
            first, last = alignment.y_starts[ent.start], alignment.y_ends[ent.end - 1]
            missing[(alignment.x_ends > first) & (alignment.x_starts < last)] = True
        else:
            ents.append(Span(out, span[0], span[1], ent.label_, ent.kb_id_))
    out.ents = ents
    if gold.has_annotation("ents"):
        out.user_data["ents_known"] = True
    if missing.any():
        out.user_data["ents_missing"] = missing
    for key, spans in gold.spans.items():
        mapped = [alignment.x_span(s.start, s.end) for s in spans]
        out.spans[key] = [Span(out, m[0], m[1], s.label_, s.kb_id_) for s, m in zip(spans, mapped) if m is not None]
    out.cats = dict(gold.cats)
    return out
