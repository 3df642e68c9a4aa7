"""Read and write spaCy's binary `.spacy` corpus format (DocBin), without spaCy.

A `.spacy` file is zlib-compressed msgpack of one dict:

    version      "0.1"
    attrs        attribute ids of the token columns, ORTH first
    tokens       bytes of a uint64 (n_tokens, n_attrs) array, every doc stacked
    spaces       bytes of a bool (n_tokens,) array
    lengths      bytes of an int32 (n_docs,) array
    strings      every string the hashes in the file stand for
    cats         per doc, {label: score}
    flags        per doc, {"has_unknown_spaces": bool}
    span_groups  per doc, bytes of spaCy's SpanGroups serialisation
    user_data    per doc, msgpack bytes (only when the writer stored user data)

String-valued columns hold string keys: 64-bit hashes, except for the strings of spaCy's
symbol table, which have small ids (`symbols.py`). archcli's StringStore keys strings the
same way, so the arrays are written and read as they are.
"""
import functools
import gzip
import zlib
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Set, Tuple, Union

import numpy
import srsly

from ..errors import CorpusError
from ..fileio import write_bytes_atomic
from . import attrs as A
from .doc import Doc, Span
from .symbols import N_SYMBOLS, SYMBOL_IDS, SYMBOL_NAMES, UNIVERSAL_POS  # noqa: F401  (re-exported)
from .vocab import Vocab

FORMAT_VERSION = "0.1"

# spaCy's default DocBin attributes (ORTH and SPACY are always stored).
DEFAULT_ATTRS: Tuple[str, ...] = (
    "ORTH", "NORM", "TAG", "HEAD", "DEP", "ENT_IOB", "ENT_TYPE", "ENT_KB_ID", "ENT_ID",
    "LEMMA", "MORPH", "POS", "SENT_START",
)

_UPOS_IDS = (SYMBOL_IDS[UNIVERSAL_POS[0]], SYMBOL_IDS[UNIVERSAL_POS[-1]])

# Columns holding string keys; the rest hold integers.
_STRING_ATTRS = frozenset(
    (A.ORTH, A.LOWER, A.NORM, A.SHAPE, A.PREFIX, A.SUFFIX, A.LEMMA, A.POS, A.TAG, A.DEP,
     A.ENT_TYPE, A.ENT_KB_ID, A.ENT_ID, A.MORPH)
)
_WRITABLE = _STRING_ATTRS | {A.HEAD, A.SENT_START, A.ENT_IOB, A.LENGTH, A.IDX}
_LEXICAL = (A.ORTH, A.LOWER, A.NORM, A.SHAPE, A.PREFIX, A.SUFFIX)

# ENT_IOB codes.
_MISSING, _I, _O, _B = 0, 1, 2, 3
_EMPTY_SPAN_GROUPS = srsly.msgpack_dumps([])
# One span in a serialised SpanGroup: id, kb_id, label, start, end, start_char, end_char.
_SPAN_DTYPE = numpy.dtype(
    [("id", ">u8"), ("kb_id", ">u8"), ("label", ">u8"), ("start", ">i4"), ("end", ">i4"),
     ("start_char", ">i4"), ("end_char", ">i4")]
)
_ENTS_KNOWN = "ents_known"  # archcli's Doc flag for "NER-annotated, maybe with no entities"


class _Msgpack:
    """msgpack with srsly's extensions, set up once.

    srsly's msgpack_dumps/loads look up their encoder plugins on every call, which costs far
    more than packing one doc's span groups; a DocBin packs thousands of those.
    """

    def __init__(self) -> None:
        self._packer = srsly.msgpack.Packer(use_bin_type=True)
        hook = None
        for decoder in srsly.msgpack_decoders.get_all().values():
            hook = functools.partial(decoder, chain=hook)
        self._pairs_hook = (lambda pairs: hook(dict(pairs))) if hook is not None else dict

    def dumps(self, obj: Any) -> bytes:
        return self._packer.pack(obj)

    def loads(self, data: bytes, use_list: bool = True) -> Any:
        return srsly.msgpack.unpackb(data, raw=False, use_list=use_list, object_pairs_hook=self._pairs_hook)


def normalize_morph(feats: str) -> str:
    """The FEATS string spaCy keys a morphological analysis by: fields and values sorted.

    spaCy looks a token's MORPH value up in its morphology table, which is keyed by this
    canonical form, so an analysis written any other way would read back as empty.
    """
    if not feats or feats == "_":
        return ""
    fields: Dict[str, str] = {}
    for feat in feats.split("|"):
        field, sep, values = feat.partition("=")
        if not sep:
            return feats  # not UD FEATS; leave it alone
        fields[field] = ",".join(sorted(values.split(",")))
    return "|".join(sorted(f"{field}={values}" for field, values in fields.items()))


class DocBin:
    """Docs packed for spaCy's `.spacy` format, so corpora move between the two tools."""

    def __init__(
        self,
        attrs: Iterable[Union[int, str]] = DEFAULT_ATTRS,
        store_user_data: bool = False,
        docs: Iterable[Doc] = (),
    ) -> None:
        ids = sorted({A.intify_attr(attr) for attr in attrs} - {A.ORTH, A.SPACY})
        unsupported = [A.IDS_TO_NAMES[attr] for attr in ids if attr not in _WRITABLE]
        if unsupported:
            raise ValueError(f"DocBin cannot store attribute(s) {', '.join(unsupported)}")
        self.version = FORMAT_VERSION
        self.attrs: List[int] = [A.ORTH] + ids
        self.store_user_data = store_user_data
        self.tokens: List[numpy.ndarray] = []
        self.spaces: List[numpy.ndarray] = []
        self.cats: List[Dict[str, float]] = []
        self.flags: List[Dict[str, Any]] = []
        self.span_groups: List[bytes] = []
        self.user_data: List[Optional[bytes]] = []
        self.strings: Set[str] = set()
        self._msgpack = _Msgpack()
        self._known_keys: Set[int] = {0}  # hashes whose string is already in self.strings
        self._morph_texts: Dict[int, str] = {0: ""}  # morph hash -> its canonical form
        for doc in docs:
            self.add(doc)

    def __len__(self) -> int:
        return len(self.tokens)

    # --- writing ------------------------------------------------------------------------
    def add(self, doc: Doc) -> None:
        """Pack one doc's annotations, translated to spaCy's keys."""
        unsupported = [A.IDS_TO_NAMES.get(a, str(a)) for a in self.attrs if a not in _WRITABLE]
        if unsupported:
            raise ValueError(f"DocBin cannot store attribute(s) {', '.join(unsupported)}")
        n = len(doc)
        ent_iob, ent_type, ent_kb_id = _entity_columns(doc)
        array = numpy.zeros((n, len(self.attrs)), dtype="uint64")
        for j, attr in enumerate(self.attrs):
            if attr in _LEXICAL:
                array[:, j] = doc.vocab.lex_attrs[doc.lex, A.LEX_COLUMN[attr]]
            elif attr in (A.TAG, A.POS, A.DEP, A.LEMMA):
                array[:, j] = getattr(doc, A.IDS_TO_NAMES[attr].lower())
            elif attr == A.MORPH:
                array[:, j] = self._canonical_morph(doc)
            elif attr == A.HEAD:
                array[:, j] = (doc.head.astype("int64") - numpy.arange(n)).view("uint64")
            elif attr == A.SENT_START:
                # spaCy's docs always mark token 0 as a sentence start, and its reader
                # reports whatever is stored there.
                sent_start = doc.sent_start.astype("int64")
                sent_start[:1] = 1
                array[:, j] = sent_start.view("uint64")
            elif attr == A.ENT_IOB:
                array[:, j] = ent_iob
            elif attr == A.ENT_TYPE:
                array[:, j] = ent_type
            elif attr == A.ENT_KB_ID:
                array[:, j] = ent_kb_id
            elif attr == A.LENGTH:
                array[:, j] = numpy.diff(doc.char_offsets) - doc.spaces
            elif attr == A.IDX:
                array[:, j] = doc.char_offsets[:-1]
            # ENT_ID: archcli spans carry no span id, so the column stays 0.
        string_cols = [j for j, attr in enumerate(self.attrs) if attr in _STRING_ATTRS]
        self._add_strings(doc, array[:, string_cols])
        if A.POS in self.attrs:
            _check_pos(doc, array[:, self.attrs.index(A.POS)])
        self.tokens.append(array)
        self.spaces.append(numpy.asarray(doc.spaces, dtype="bool"))
        self.flags.append({"has_unknown_spaces": False})
        self.cats.append(dict(doc.cats))
        self.span_groups.append(self._pack_span_groups(doc))
        if self.store_user_data:
            user_data = {k: v for k, v in doc.user_data.items() if k != _ENTS_KNOWN}
            self.user_data.append(self._msgpack.dumps(user_data))

    def _pack_span_groups(self, doc: Doc) -> bytes:
        """spaCy's SpanGroups bytes: msgpack {SpanGroup bytes: [keys]}, or [] when empty."""
        if not doc.spans:
            return _EMPTY_SPAN_GROUPS
        offsets = doc.char_offsets
        # tok_end[e]: end character of token e - 1, so a span [s, e) ends at tok_end[e].
        tok_end = numpy.concatenate([[0], offsets[1:] - doc.spaces])
        msg: Dict[bytes, List[str]] = {}
        for key, spans in doc.spans.items():
            packed = numpy.zeros((len(spans),), dtype=_SPAN_DTYPE)
            if spans:
                texts = [(s.label_, s.kb_id_) for s in spans]
                self.strings.update(t for pair in texts for t in pair if t)
                keys = numpy.asarray([[doc.vocab.strings.add(t) for t in pair] for pair in texts], dtype="uint64")
                starts = numpy.asarray([s.start for s in spans], dtype="int64")
                ends = numpy.asarray([s.end for s in spans], dtype="int64")
                packed["label"] = keys[:, 0]
                packed["kb_id"] = keys[:, 1]
                packed["start"] = starts
                packed["end"] = ends
                packed["start_char"] = offsets[starts]
                packed["end_char"] = numpy.where(ends > starts, tok_end[ends], offsets[starts])
            data = packed.tobytes()
            size = _SPAN_DTYPE.itemsize
            group = {"name": key, "attrs": {}, "spans": [data[i : i + size] for i in range(0, len(data), size)]}
            msg.setdefault(self._msgpack.dumps(group), []).append(key)
        return self._msgpack.dumps(msg)

    def _add_strings(self, doc: Doc, keys: numpy.ndarray) -> None:
        """Record the strings behind the hashes; every one must be in the doc's vocab."""
        strings = doc.vocab.strings
        new = [k for k in numpy.unique(keys).tolist() if k not in self._known_keys]
        unknown = [k for k in new if k not in strings]
        if unknown:
            raise ValueError(f"doc has string hash(es) not in its vocab: {unknown[:5]}")
        self.strings.update(strings.get_text(k) for k in new)
        self._known_keys.update(new)

    def _canonical_morph(self, doc: Doc) -> numpy.ndarray:
        """doc.morph with every analysis in spaCy's canonical FEATS order."""
        unique, inverse = numpy.unique(doc.morph, return_inverse=True)
        strings = doc.vocab.strings
        canon = self._morph_texts
        for key in unique.tolist():
            if key not in canon:
                canon[key] = normalize_morph(strings.get_text(key))
        keys = [strings.add(canon[k]) for k in unique.tolist()]
        return numpy.asarray(keys, dtype="uint64")[inverse.reshape(-1)]

    def to_bytes(self) -> bytes:
        lengths = numpy.asarray([len(t) for t in self.tokens], dtype="<i4")
        if self.tokens:
            tokens = numpy.vstack(self.tokens).astype("<u8", copy=False)
            spaces = numpy.concatenate(self.spaces).astype("bool", copy=False)
        else:
            tokens = numpy.zeros((0, len(self.attrs)), dtype="<u8")
            spaces = numpy.zeros((0,), dtype="bool")
        msg = {
            "version": self.version,
            "attrs": list(self.attrs),
            "tokens": tokens.tobytes("C"),
            "spaces": spaces.tobytes("C"),
            "lengths": lengths.tobytes("C"),
            "strings": sorted(self.strings),
            "cats": self.cats,
            "flags": self.flags,
            "span_groups": self.span_groups,
        }
        if self.store_user_data:
            msg["user_data"] = self.user_data
        return zlib.compress(srsly.msgpack_dumps(msg))

    def to_disk(self, path: Union[str, Path]) -> None:
        """Write atomically, so an interrupted run never leaves a truncated corpus behind."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, self.to_bytes())

    # --- reading ------------------------------------------------------------------------
    def from_bytes(self, data: bytes) -> "DocBin":
        """Load a DocBin; ValueError if the bytes are not one."""
        msg = _unpack(data)
        try:
            self._load_msg(msg)
        except (KeyError, TypeError, AttributeError) as e:
            raise ValueError(f"malformed DocBin ({type(e).__name__}: {e})") from None
        return self

    def _load_msg(self, msg: Dict[str, Any]) -> None:
        if not isinstance(msg, dict):
            raise ValueError("not a DocBin: the msgpack payload is not a dict")
        missing = [k for k in ("attrs", "tokens", "spaces", "lengths", "strings") if k not in msg]
        if missing:
            raise ValueError(f"not a DocBin: missing field(s) {', '.join(missing)}")
        if not isinstance(msg["attrs"], list) or not all(isinstance(a, int) for a in msg["attrs"]):
            raise ValueError("malformed DocBin: 'attrs' is not a list of attribute ids")
        file_attrs = list(msg["attrs"])
        if A.ORTH not in file_attrs:
            raise ValueError("malformed DocBin: attrs has no ORTH column")
        lengths = numpy.frombuffer(_as_bytes(msg["lengths"], "lengths", 4), dtype="<i4")
        if (lengths < 0).any():
            raise ValueError("malformed DocBin: negative doc length")
        n_tokens = int(lengths.sum())
        flat = numpy.frombuffer(_as_bytes(msg["tokens"], "tokens", 8), dtype="<u8")
        if flat.size != n_tokens * len(file_attrs):
            raise ValueError(
                f"malformed DocBin: {flat.size} token values for {n_tokens} tokens x {len(file_attrs)} attrs"
            )
        spaces = numpy.frombuffer(_as_bytes(msg["spaces"], "spaces", 1), dtype="uint8")
        if spaces.size == 8 * n_tokens and n_tokens:  # very early writers stored uint64 spaces
            spaces = numpy.frombuffer(spaces.tobytes(), dtype="<u8")
        if spaces.size != n_tokens:
            raise ValueError(f"malformed DocBin: {spaces.size} spaces for {n_tokens} tokens")
        n_docs = len(lengths)
        cats = _per_doc(msg, "cats", n_docs, {})
        flags = _per_doc(msg, "flags", n_docs, {})
        span_groups = _per_doc(msg, "span_groups", n_docs, b"")
        user_data = list(msg.get("user_data") or [])
        user_data += [None] * (n_docs - len(user_data))
        bounds = numpy.cumsum(lengths)[:-1] if n_docs else []
        self.version = str(msg.get("version", FORMAT_VERSION))
        self.attrs = file_attrs
        self.tokens = numpy.split(flat.reshape((n_tokens, len(file_attrs))), bounds) if n_docs else []
        self.spaces = numpy.split(spaces.astype("bool"), bounds) if n_docs else []
        self.strings = {str(s) for s in msg["strings"]}
        self._known_keys = {0}
        self.cats = [dict(c or {}) for c in cats]
        self.flags = [dict(f or {}) for f in flags]
        self.span_groups = [bytes(b or b"") for b in span_groups]
        self.user_data = user_data[:n_docs]
        self.store_user_data = "user_data" in msg

    def from_disk(self, path: Union[str, Path]) -> "DocBin":
        """Load a `.spacy` file; CorpusError naming the file if it is unreadable or corrupt."""
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise CorpusError(f"cannot read DocBin file: {e.strerror or e}", where=str(path)) from None
        try:
            return self.from_bytes(data)
        except ValueError as e:
            raise CorpusError(str(e), where=str(path)) from None

    def get_docs(self, vocab: Vocab) -> Iterator[Doc]:
        """Rebuild the docs over `vocab`; ValueError if the data is inconsistent."""
        codec = _Msgpack()
        add = vocab.strings.add
        file_keys = numpy.asarray([add(s) for s in self.strings], dtype="uint64")
        n_cols = len(self.attrs)
        flat = numpy.concatenate(self.tokens) if self.tokens else numpy.zeros((0, n_cols), dtype="uint64")
        col = {attr: j for j, attr in reversed(list(enumerate(self.attrs)))}  # first wins
        cols: Dict[int, numpy.ndarray] = {}
        for attr in (A.ORTH, A.TAG, A.POS, A.DEP, A.LEMMA, A.MORPH, A.ENT_TYPE, A.ENT_KB_ID):
            if attr in col:
                cols[attr] = _decode_strings(flat[:, col[attr]], vocab, file_keys, A.IDS_TO_NAMES[attr])
        if A.MORPH in cols:  # "_" is spaCy's spelling of an empty analysis
            morph = cols[A.MORPH]
            morph[morph == SYMBOL_IDS["_"]] = 0
        if A.ENT_IOB in col and (flat[:, col[A.ENT_IOB]] > _B).any():
            bad = int(flat[:, col[A.ENT_IOB]].max())
            raise ValueError(f"ENT_IOB value {bad} is not one of 0 (missing), 1 (I), 2 (O), 3 (B)")
        unique_orth, orth_rows = numpy.unique(cols[A.ORTH], return_inverse=True)
        words_table = numpy.asarray([vocab.strings.get_text(int(k)) for k in unique_orth], dtype=object)
        orth_rows = orth_rows.reshape(-1)
        start = 0
        for i, tokens in enumerate(self.tokens):
            n = len(tokens)
            end = start + n
            rows = slice(start, end)
            doc = Doc(vocab, words_table[orth_rows[rows]].tolist(), self.spaces[i].tolist())
            for attr, name in ((A.TAG, "tag"), (A.POS, "pos"), (A.DEP, "dep"), (A.LEMMA, "lemma"), (A.MORPH, "morph")):
                if attr in cols:
                    getattr(doc, name)[:] = cols[attr][rows]
            if A.HEAD in col:
                # spaCy keeps the low 32 bits of the column as a signed offset.
                rel = tokens[:, col[A.HEAD]].astype("uint32").view("int32").astype("int64")
                heads = rel + numpy.arange(n)
                if n and (heads.min() < 0 or heads.max() >= n):
                    bad = int(numpy.flatnonzero((heads < 0) | (heads >= n))[0])
                    raise ValueError(f"doc {i}: head of token {bad} points outside the doc ({int(rel[bad]):+d})")
                doc.head[:] = heads
            if A.SENT_START in col:
                doc.sent_start[:] = numpy.sign(tokens[:, col[A.SENT_START]].view("int64"))
            if A.ENT_IOB in col:
                iob = tokens[:, col[A.ENT_IOB]]
                zeros = numpy.zeros((n,), dtype="uint64")
                ent_type = cols[A.ENT_TYPE][rows] if A.ENT_TYPE in cols else zeros
                kb_id = cols[A.ENT_KB_ID][rows] if A.ENT_KB_ID in cols else zeros
                doc.ents = _entities(doc, iob, ent_type, kb_id)
                if iob.any() and not doc.ents:
                    doc.user_data[_ENTS_KNOWN] = True
            doc.cats = dict(self.cats[i])
            doc.spans = _unpack_span_groups(doc, self.span_groups[i], i, codec)
            if self.user_data[i] is not None:
                try:
                    doc.user_data.update(codec.loads(self.user_data[i], use_list=False))
                except Exception as e:
                    raise ValueError(f"doc {i}: bad user_data ({type(e).__name__})") from None
            start = end
            yield doc


def read_docbin(path: Union[str, Path], vocab: Vocab) -> Iterator[Doc]:
    """Docs of a `.spacy` file; every problem with the file is a CorpusError naming it.

    The file is read and checked before this returns; problems found while rebuilding a doc
    are raised, as CorpusError too, when iteration reaches it.
    """
    doc_bin = DocBin().from_disk(path)

    def docs() -> Iterator[Doc]:
        try:
            yield from doc_bin.get_docs(vocab)
        except ValueError as e:
            raise CorpusError(str(e), where=str(path)) from None

    return docs()


# --- helpers --------------------------------------------------------------------------------
def _unpack(data: bytes) -> Any:
    """Decompress and unpack; accepts zlib (what spaCy writes), gzip, or bare msgpack."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError(f"DocBin.from_bytes needs bytes, not {type(data).__name__}")
    data = bytes(data)
    if not data:
        raise ValueError("not a DocBin: the data is empty")
    try:
        if data[:2] == b"\x1f\x8b":
            payload = gzip.decompress(data)
        elif 0x80 <= data[0] <= 0x8F or data[0] in (0xDE, 0xDF):
            payload = data  # a msgpack map: uncompressed
        else:
            payload = zlib.decompress(data)
    except (zlib.error, OSError, EOFError) as e:
        raise ValueError(f"not a DocBin: cannot decompress ({e})") from None
    try:
        return srsly.msgpack_loads(payload)
    except Exception as e:  # msgpack raises a zoo of types on arbitrary bytes
        raise ValueError(f"not a DocBin: bad msgpack data ({type(e).__name__}{': ' if str(e) else ''}{e})") from None


def _as_bytes(value: Any, field: str, itemsize: int) -> bytes:
    if not isinstance(value, (bytes, bytearray)):
        raise ValueError(f"malformed DocBin: '{field}' is {type(value).__name__}, not bytes")
    if len(value) % itemsize:
        raise ValueError(f"malformed DocBin: '{field}' has {len(value)} bytes, not a multiple of {itemsize}")
    return bytes(value)


def _per_doc(msg: Dict[str, Any], field: str, n_docs: int, default: Any) -> List[Any]:
    values = msg.get(field)
    if values is None:
        return [default] * n_docs
    if not isinstance(values, list) or len(values) != n_docs:
        raise ValueError(f"malformed DocBin: '{field}' does not have one entry per doc ({n_docs})")
    return values


def _check_pos(doc: Doc, spacy_keys: numpy.ndarray) -> None:
    bad = (spacy_keys != 0) & ((spacy_keys < _UPOS_IDS[0]) | (spacy_keys > _UPOS_IDS[1]))
    if bad.any():
        values = sorted({doc.vocab.strings.get_text(int(k)) for k in doc.pos[bad]})
        raise ValueError(
            f"POS values {values} are not universal POS tags; spaCy's DocBin only stores "
            f"{', '.join(UNIVERSAL_POS)}"
        )


def _entity_columns(doc: Doc) -> Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """ENT_IOB, ENT_TYPE and ENT_KB_ID columns (archcli hashes) from doc.ents."""
    n = len(doc)
    iob = numpy.full((n,), _O if doc.has_annotation("ents") else _MISSING, dtype="uint64")
    ent_type = numpy.zeros((n,), dtype="uint64")
    kb_id = numpy.zeros((n,), dtype="uint64")
    ents = [span for span in doc.ents if span.end > span.start]
    if ents:
        add = doc.vocab.strings.add
        starts = numpy.asarray([s.start for s in ents], dtype="int64")
        lengths = numpy.asarray([s.end - s.start for s in ents], dtype="int64")
        which = numpy.repeat(numpy.arange(len(ents)), lengths)
        tokens = numpy.arange(lengths.sum()) - numpy.repeat(numpy.cumsum(lengths) - lengths, lengths) + starts[which]
        iob[tokens] = _I
        iob[starts] = _B
        ent_type[tokens] = numpy.asarray([add(s.label_) for s in ents], dtype="uint64")[which]
        kb_id[tokens] = numpy.asarray([add(s.kb_id_) if s.kb_id_ else 0 for s in ents], dtype="uint64")[which]
    return iob, ent_type, kb_id


def _decode_strings(keys: numpy.ndarray, vocab: Vocab, file_keys: numpy.ndarray, name: str) -> numpy.ndarray:
    """Check every key of a string column stands for a string we know (symbols always do)."""
    keys = numpy.ascontiguousarray(keys, dtype="uint64")
    symbols = numpy.unique(keys[keys < N_SYMBOLS])
    for symbol in symbols:
        vocab.strings.add(SYMBOL_NAMES[int(symbol)])
    hashed = keys[keys >= N_SYMBOLS]
    unknown = numpy.unique(hashed[~numpy.isin(hashed, file_keys)])
    unknown = [int(k) for k in unknown if int(k) not in vocab.strings]
    if unknown:
        raise ValueError(f"{name} column has hash(es) with no string in the file: {unknown[:5]}")
    return keys


def _entities(doc: Doc, iob: numpy.ndarray, ent_type: numpy.ndarray, kb_id: numpy.ndarray) -> List[Span]:
    """Entity spans from IOB codes, as spaCy's Doc.ents reads them.

    An entity starts at B (with a label) and runs over the following I tokens. spaCy refuses
    an I with nothing open; we start an entity there instead of failing the corpus.
    """
    n = len(iob)
    begins = (iob == _B) & (ent_type != 0)
    inside = iob == _I
    in_ent = begins | inside
    prev_in = numpy.concatenate([[False], in_ent[:-1]])
    starts = numpy.flatnonzero(begins | (inside & ~prev_in))
    breaks = numpy.append(numpy.flatnonzero(~inside), n)
    ends = breaks[numpy.searchsorted(breaks, starts, side="right")]
    text = doc.vocab.strings.get_text
    return [
        Span(doc, int(s), int(e), label=text(int(ent_type[s])), kb_id=text(int(kb_id[s])))
        for s, e in zip(starts, ends)
        if ent_type[s]
    ]


def _unpack_span_groups(doc: Doc, data: bytes, i: int, codec: _Msgpack) -> Dict[str, List[Span]]:
    """Span groups from spaCy's SpanGroups bytes (any 3.x layout: b'', [], [group], {group: keys})."""
    if not data or data == _EMPTY_SPAN_GROUPS:
        return {}
    try:
        msg = codec.loads(data)
    except Exception as e:
        raise ValueError(f"doc {i}: bad span group data ({type(e).__name__})") from None
    if isinstance(msg, list):  # older 3.x writers: a list of groups, keyed by their name
        items = [(group, None) for group in msg]
    elif isinstance(msg, dict):
        items = list(msg.items())
    else:
        raise ValueError(f"doc {i}: bad span group data")
    out: Dict[str, List[Span]] = {}
    for group_bytes, keys in items:
        try:
            group = codec.loads(group_bytes)
            name = group["name"]
            raw = b"".join(group["spans"])
            keys = list(keys) if keys is not None else [name]
        except Exception as e:
            raise ValueError(f"doc {i}: bad span group ({type(e).__name__})") from None
        if len(raw) % _SPAN_DTYPE.itemsize:
            raise ValueError(f"doc {i}: span group '{name}' has truncated spans")
        spans = numpy.frombuffer(raw, dtype=_SPAN_DTYPE)
        starts, ends = spans["start"].astype("int64"), spans["end"].astype("int64")
        bad = (starts < 0) | (ends < starts) | (ends > len(doc))
        if bad.any():
            j = int(numpy.flatnonzero(bad)[0])
            raise ValueError(
                f"doc {i}: span group '{name}' span [{starts[j]}, {ends[j]}) is outside the doc ({len(doc)} tokens)"
            )
        labels = _span_texts(doc, spans["label"], strict=True, what=f"doc {i}: span group '{name}' label")
        # spaCy before 3.6 did not always store span kb_id strings; drop what cannot be read.
        kb_ids = _span_texts(doc, spans["kb_id"], strict=False, what="")
        for key in keys:
            out[str(key)] = [
                Span(doc, int(s), int(e), label=label, kb_id=kb)
                for s, e, label, kb in zip(starts, ends, labels, kb_ids)
            ]
    return out


def _span_texts(doc: Doc, keys: numpy.ndarray, strict: bool, what: str) -> List[str]:
    strings = doc.vocab.strings
    out = []
    for key in keys.astype("uint64").tolist():
        if key in strings:
            out.append(strings.get_text(key))
        elif strict:
            raise ValueError(f"{what} hash {key} has no string in the file")
        else:
            out.append("")
    return out
