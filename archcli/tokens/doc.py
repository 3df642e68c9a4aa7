"""Doc, Token and Span: a tokenised text and its annotations, held in flat arrays.

Annotations are per-token arrays (string hashes, heads as absolute indices) so components
read and write a whole doc at once; Token and Span are light views over them.
"""
from bisect import bisect_right
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

import numpy

from . import attrs
from .vocab import Vocab

_HASHED = ("tag", "pos", "dep", "lemma", "morph")


class Doc:
    # Words and character offsets are derived from `lex` and `spaces`; they are computed once
    # and cached, so Token.idx / Span.text stay O(1) per call. Assigning `lex` or `spaces`
    # drops the cache; the arrays themselves are read-only so they cannot go stale in place.
    _words: Optional[List[str]] = None
    _offsets: Optional[numpy.ndarray] = None
    _ent_starts: Optional[List[int]] = None

    def __init__(
        self,
        vocab: Vocab,
        words: Sequence[str],
        spaces: Optional[Sequence[bool]] = None,
        *,
        tags: Optional[Sequence[str]] = None,
        pos: Optional[Sequence[str]] = None,
        heads: Optional[Sequence[int]] = None,
        deps: Optional[Sequence[str]] = None,
        lemmas: Optional[Sequence[str]] = None,
        sent_starts: Optional[Sequence[Optional[bool]]] = None,
    ) -> None:
        n = len(words)
        self.vocab = vocab
        self.lex = vocab.lex_ids(words)
        if spaces is None:
            spaces = [True] * n
            if n:
                spaces[-1] = False
        if len(spaces) != n:
            raise ValueError(f"Doc got {n} words but {len(spaces)} spaces")
        self.spaces = numpy.asarray(spaces, dtype="bool")
        self.tag = numpy.zeros((n,), dtype="uint64")
        self.pos = numpy.zeros((n,), dtype="uint64")
        self.dep = numpy.zeros((n,), dtype="uint64")
        self.lemma = numpy.zeros((n,), dtype="uint64")
        self.morph = numpy.zeros((n,), dtype="uint64")
        self.head = numpy.arange(n, dtype="int32")
        # 1: starts a sentence, -1: does not, 0: unknown.
        self.sent_start = numpy.zeros((n,), dtype="int8")
        self._ents: List["Span"] = []
        self.spans: Dict[str, List["Span"]] = {}
        self.cats: Dict[str, float] = {}
        self.tensor: Optional[Any] = None
        # Set by a `transformer` component: wordpieces, their vectors and the token alignment.
        self.trf_data: Optional[Any] = None
        self.user_data: Dict[str, Any] = {}
        for name, values in (("tag", tags), ("pos", pos), ("dep", deps), ("lemma", lemmas)):
            if values is not None:
                self.set_strings(name, values)
        if heads is not None:
            self.head[:] = numpy.asarray(heads, dtype="int32")
        if sent_starts is not None:
            self.sent_start[:] = [0 if s is None else (1 if s else -1) for s in sent_starts]

    # --- basic container protocol -------------------------------------------------------
    def __len__(self) -> int:
        return self.lex.shape[0]

    def __getitem__(self, i: Union[int, slice]) -> Union["Token", "Span"]:
        if isinstance(i, slice):
            start, stop, _ = i.indices(len(self))
            return Span(self, start, stop)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"token index {i} out of range for a doc of {len(self)} tokens")
        return Token(self, i)

    def __iter__(self) -> Iterator["Token"]:
        return (Token(self, i) for i in range(len(self)))

    def __repr__(self) -> str:
        return self.text

    @property
    def lex(self) -> numpy.ndarray:
        """Row of each token's word in `vocab.lex_attrs` (read-only; assign a new array)."""
        return self._lex

    @lex.setter
    def lex(self, value: Sequence[int]) -> None:
        self._lex = _frozen(value, "int32")
        self._words = None
        self._offsets = None

    @property
    def spaces(self) -> numpy.ndarray:
        """Whether each token is followed by a space (read-only; assign a new array)."""
        return self._spaces

    @spaces.setter
    def spaces(self, value: Sequence[bool]) -> None:
        self._spaces = _frozen(value, "bool")
        self._offsets = None

    @property
    def words(self) -> List[str]:
        if self._words is None:
            word = self.vocab.word
            self._words = [word(lex) for lex in self._lex.tolist()]
        return list(self._words)

    @property
    def text(self) -> str:
        text = self._text_of(0, len(self))
        return text + " " if len(self) and self._spaces[-1] else text

    @property
    def char_offsets(self) -> numpy.ndarray:
        """Start character of each token, plus the text length at the end (read-only)."""
        if self._offsets is None:
            if self._words is None:
                self.words
            lengths = numpy.fromiter((len(w) for w in self._words), dtype="int64", count=len(self))
            offsets = numpy.zeros((len(self) + 1,), dtype="int64")
            numpy.cumsum(lengths + self._spaces, out=offsets[1:])
            offsets.flags.writeable = False
            self._offsets = offsets
        return self._offsets

    def _text_of(self, start: int, end: int) -> str:
        """Text of tokens [start, end), without the last token's trailing space."""
        if end <= start:
            return ""
        if self._words is None:
            self.words
        words = self._words
        spaces = self._spaces[start:end].tolist()
        spaces[-1] = False
        return "".join(w + " " if s else w for w, s in zip(words[start:end], spaces))

    # --- string-valued annotations --------------------------------------------------------
    def set_strings(self, name: str, values: Sequence[Optional[str]]) -> None:
        """Set a hashed per-token annotation (tag, pos, dep, lemma, morph) from strings."""
        if len(values) != len(self):
            raise ValueError(f"{name}: got {len(values)} values for {len(self)} tokens")
        add = self.vocab.strings.add
        getattr(self, name)[:] = [add(v) if v else 0 for v in values]

    def get_strings(self, name: str) -> List[str]:
        text = self.vocab.strings.get_text
        return [text(int(key)) for key in getattr(self, name)]

    def has_annotation(self, name: str) -> bool:
        name = name.lower()
        if name in _HASHED:
            return bool(getattr(self, name).any())
        if name in ("head", "dep"):
            return bool(self.dep.any())
        if name == "sent_start":
            return bool(self.sent_start[1:].any()) or self.dep.any()
        if name in ("ent_iob", "ent_type", "ents"):
            return bool(self._ents) or bool(self.user_data.get("ents_known"))
        raise ValueError(f"Unknown annotation '{name}'")

    def to_array(self, attr_ids: Sequence[Union[int, str]]) -> numpy.ndarray:
        """(n_tokens, n_attrs) uint64 array of the given attributes, as spaCy's Doc.to_array."""
        columns = []
        for attr in attr_ids:
            attr = attrs.intify_attr(attr)
            if attr in attrs.LEX_COLUMN:
                columns.append(self.vocab.lex_attrs[self.lex, attrs.LEX_COLUMN[attr]])
            elif attr == attrs.TAG:
                columns.append(self.tag)
            elif attr == attrs.POS:
                columns.append(self.pos)
            elif attr == attrs.DEP:
                columns.append(self.dep)
            elif attr == attrs.LEMMA:
                columns.append(self.lemma)
            elif attr == attrs.MORPH:
                columns.append(self.morph)
            elif attr == attrs.HEAD:
                columns.append((self.head - numpy.arange(len(self))).astype("int64").view("uint64"))
            elif attr == attrs.SENT_START:
                columns.append(self.sent_start.astype("int64").view("uint64"))
            elif attr == attrs.SPACY:
                columns.append(self.spaces.astype("uint64"))
            elif attr == attrs.LENGTH:
                columns.append(numpy.asarray([len(w) for w in self.words], dtype="uint64"))
            elif attr == attrs.ENT_TYPE:
                columns.append(self._ent_arrays()[1])
            elif attr == attrs.ENT_IOB:
                columns.append(self._ent_arrays()[0])
            else:
                raise ValueError(f"Doc.to_array does not support attribute {attrs.IDS_TO_NAMES[attr]}")
        if not columns:
            return numpy.zeros((len(self), 0), dtype="uint64")
        return numpy.stack([numpy.asarray(c, dtype="uint64") for c in columns], axis=1)

    # --- sentences ------------------------------------------------------------------------
    @property
    def sents(self) -> List["Span"]:
        starts = numpy.flatnonzero(self.sent_start == 1).tolist()
        if not starts or starts[0] != 0:
            starts = [0] + starts
        ends = starts[1:] + [len(self)]
        return [Span(self, s, e) for s, e in zip(starts, ends) if e > s]

    # --- entities -------------------------------------------------------------------------
    @property
    def ents(self) -> List["Span"]:
        return list(self._ents)

    @ents.setter
    def ents(self, spans: Sequence["Span"]) -> None:
        ordered = sorted(spans, key=lambda s: (s.start, s.end))
        for prev, span in zip(ordered, ordered[1:]):
            if span.start < prev.end:
                raise ValueError(f"Overlapping entities: {prev!r} and {span!r}")
        self._ents = list(ordered)
        self._ent_starts = None

    def _ent_at(self, i: int) -> Optional["Span"]:
        """The entity containing token i (entities are sorted and disjoint)."""
        if self._ent_starts is None:
            self._ent_starts = [span.start for span in self._ents]
        k = bisect_right(self._ent_starts, i) - 1
        return self._ents[k] if k >= 0 and i < self._ents[k].end else None

    def _ent_arrays(self):
        """ENT_IOB (1 I, 2 O, 3 B, 0 missing) and ENT_TYPE hashes, as spaCy encodes them."""
        iob = numpy.full((len(self),), 2 if self.has_annotation("ents") else 0, dtype="uint64")
        types = numpy.zeros((len(self),), dtype="uint64")
        for span in self._ents:
            iob[span.start] = 3
            iob[span.start + 1 : span.end] = 1
            types[span.start : span.end] = self.vocab.strings.add(span.label_)
        return iob, types

    def char_span(self, start_char: int, end_char: int, label: str = "", kb_id: str = "") -> Optional["Span"]:
        """The span covering exactly these character offsets, or None if they cut a token."""
        offsets = self.char_offsets
        starts = offsets[:-1]
        ends = offsets[1:] - self.spaces
        start = numpy.searchsorted(starts, start_char)
        end = numpy.searchsorted(ends, end_char) + 1
        if start >= len(self) or starts[start] != start_char:
            return None
        if end - 1 >= len(self) or ends[end - 1] != end_char or end <= start:
            return None
        return Span(self, int(start), int(end), label=label, kb_id=kb_id)

    def slice_doc(self, start: int, end: int) -> "Doc":
        """Tokens start:end as a Doc of their own, with the annotations inside them (heads
        re-based; an entity or span crossing the edge is left out; cats and user_data as the doc's)."""
        part = self.copy()
        part.lex = self.lex[start:end]
        part.spaces = self.spaces[start:end]
        for name in _HASHED:
            setattr(part, name, getattr(self, name)[start:end].copy())
        heads = self.head[start:end] - start
        inside = (heads >= 0) & (heads < end - start)
        part.head = numpy.where(inside, heads, numpy.arange(end - start)).astype("int32")
        part.sent_start = self.sent_start[start:end].copy()
        if end > start:
            part.sent_start[0] = 1

        def moved(spans):
            return [Span(part, s.start - start, s.end - start, s.label_, s.kb_id_) for s in spans
                    if start <= s.start and s.end <= end]

        part.ents = moved(self.ents)
        part.spans = {key: moved(group) for key, group in self.spans.items()}
        return part

    def copy(self, annotations: bool = True) -> "Doc":
        """A new Doc over the same words; `annotations=False` gives the blank predicted side."""
        new = Doc.__new__(Doc)
        new.vocab = self.vocab
        new.lex = self.lex
        new.spaces = self.spaces
        new._words = self._words
        n = len(self)
        for name in _HASHED:
            setattr(new, name, getattr(self, name).copy() if annotations else numpy.zeros((n,), dtype="uint64"))
        new.head = self.head.copy() if annotations else numpy.arange(n, dtype="int32")
        new.sent_start = self.sent_start.copy() if annotations else numpy.zeros((n,), dtype="int8")
        new._ents = [Span(new, s.start, s.end, s.label_, s.kb_id_) for s in self._ents] if annotations else []
        new.spans = (
            {k: [Span(new, s.start, s.end, s.label_, s.kb_id_) for s in g] for k, g in self.spans.items()}
            if annotations
            else {}
        )
        new.cats = dict(self.cats) if annotations else {}
        new.tensor = None
        new.user_data = dict(self.user_data) if annotations else {}
        return new


class Token:
    __slots__ = ("doc", "i")

    def __init__(self, doc: Doc, i: int) -> None:
        self.doc = doc
        self.i = i

    def __repr__(self) -> str:
        return self.text

    def __len__(self) -> int:
        return len(self.text)

    @property
    def text(self) -> str:
        return self.doc.vocab.word(int(self.doc.lex[self.i]))

    orth_ = text

    def _lex(self, attr: int) -> int:
        return int(self.doc.vocab.lex_attrs[self.doc.lex[self.i], attrs.LEX_COLUMN[attr]])

    @property
    def orth(self) -> int:
        return self._lex(attrs.ORTH)

    @property
    def lower_(self) -> str:
        return self.doc.vocab.strings.get_text(self._lex(attrs.LOWER))

    @property
    def norm_(self) -> str:
        return self.doc.vocab.strings.get_text(self._lex(attrs.NORM))

    @property
    def prefix_(self) -> str:
        return self.doc.vocab.strings.get_text(self._lex(attrs.PREFIX))

    @property
    def suffix_(self) -> str:
        return self.doc.vocab.strings.get_text(self._lex(attrs.SUFFIX))

    @property
    def shape_(self) -> str:
        return self.doc.vocab.strings.get_text(self._lex(attrs.SHAPE))

    @property
    def whitespace_(self) -> str:
        return " " if self.doc.spaces[self.i] else ""

    @property
    def idx(self) -> int:
        return int(self.doc.char_offsets[self.i])

    def _get(self, name: str) -> str:
        return self.doc.vocab.strings.get_text(int(getattr(self.doc, name)[self.i]))

    def _set(self, name: str, value: str) -> None:
        getattr(self.doc, name)[self.i] = self.doc.vocab.strings.add(value) if value else 0

    tag_ = property(lambda self: self._get("tag"), lambda self, v: self._set("tag", v))
    pos_ = property(lambda self: self._get("pos"), lambda self, v: self._set("pos", v))
    dep_ = property(lambda self: self._get("dep"), lambda self, v: self._set("dep", v))
    lemma_ = property(lambda self: self._get("lemma"), lambda self, v: self._set("lemma", v))

    @property
    def head(self) -> "Token":
        return Token(self.doc, int(self.doc.head[self.i]))

    @head.setter
    def head(self, token: "Token") -> None:
        self.doc.head[self.i] = token.i

    @property
    def is_sent_start(self) -> Optional[bool]:
        if self.i == 0:
            return True
        value = int(self.doc.sent_start[self.i])
        return None if value == 0 else value == 1

    @is_sent_start.setter
    def is_sent_start(self, value: Optional[bool]) -> None:
        self.doc.sent_start[self.i] = 0 if value is None else (1 if value else -1)

    @property
    def ent_iob_(self) -> str:
        span = self.doc._ent_at(self.i)
        if span is not None:
            return "B" if span.start == self.i else "I"
        return "O" if self.doc.has_annotation("ents") else ""

    @property
    def ent_type_(self) -> str:
        span = self.doc._ent_at(self.i)
        return span.label_ if span is not None else ""

    @property
    def ent_kb_id_(self) -> str:
        """KB id of the entity this token is in ("" outside entities or when unlinked), as spaCy."""
        span = self.doc._ent_at(self.i)
        return span.kb_id_ if span is not None else ""

    @property
    def ent_kb_id(self) -> int:
        """Hash of `ent_kb_id_` (0 for none), added to the string store as Span.label does."""
        kb_id = self.ent_kb_id_
        return self.doc.vocab.strings.add(kb_id) if kb_id else 0


class Span:
    __slots__ = ("doc", "start", "end", "label_", "kb_id_")

    def __init__(self, doc: Doc, start: int, end: int, label: str = "", kb_id: str = "") -> None:
        if not 0 <= start <= end <= len(doc):
            raise IndexError(f"span [{start}, {end}) out of range for a doc of {len(doc)} tokens")
        self.doc = doc
        self.start = start
        self.end = end
        self.label_ = label
        self.kb_id_ = kb_id

    def __len__(self) -> int:
        return self.end - self.start

    def __iter__(self) -> Iterator[Token]:
        return (Token(self.doc, i) for i in range(self.start, self.end))

    def __getitem__(self, i: int) -> Token:
        return Token(self.doc, self.start + (i if i >= 0 else len(self) + i))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Span)
            and other.doc is self.doc
            and (other.start, other.end, other.label_, other.kb_id_) == (self.start, self.end, self.label_, self.kb_id_)
        )

    def __hash__(self) -> int:
        return hash((id(self.doc), self.start, self.end, self.label_, self.kb_id_))

    def __repr__(self) -> str:
        return f"{self.text!r}[{self.start}:{self.end}]{'/' + self.label_ if self.label_ else ''}"

    @property
    def label(self) -> int:
        return self.doc.vocab.strings.add(self.label_)

    @property
    def start_char(self) -> int:
        return int(self.doc.char_offsets[self.start])

    @property
    def end_char(self) -> int:
        if self.end <= self.start:
            return self.start_char
        offsets = self.doc.char_offsets
        return int(offsets[self.end]) - int(self.doc.spaces[self.end - 1])

    @property
    def text(self) -> str:
        return self.doc._text_of(self.start, self.end)


def _frozen(value: Sequence[Any], dtype: str) -> numpy.ndarray:
    """A read-only view of `value` as a 1d array of `dtype`."""
    array = numpy.asarray(value, dtype=dtype).view()
    array.flags.writeable = False
    return array
