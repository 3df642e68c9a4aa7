"""Character offsets to token spans, and the notes readers print about what they left out.

Shared by the annotated-JSONL and Prodigy readers (jsonl.py hands Prodigy records to prodigy.py,
so what both need lives here, outside the two).
"""
import sys
from pathlib import Path
from typing import Any, Dict, List, Set, Tuple

import numpy

from ..errors import CorpusError
from ..tokens import Doc, Span


class FileCounts:
    """What a reader left out of one file, said once at the end of it (never in silence)."""

    def __init__(self) -> None:
        self.nested_ents = 0
        self.prodigy_skipped: Dict[str, int] = {}

    def note(self, path: Path) -> None:
        if self.nested_ents:
            note_once(path, f"{self.nested_ents} nested or overlapping entity mention(s) dropped (entity-linking "
                            "records: the outermost, longest of overlapping mentions is kept)")
        if self.prodigy_skipped:
            n = sum(self.prodigy_skipped.values())
            detail = ", ".join(f"{answer!r}: {count}" for answer, count in sorted(self.prodigy_skipped.items()))
            note_once(path, f'{n} Prodigy task(s) whose answer is not "accept" skipped ({detail})')


_NOTED: Set[Tuple[str, str]] = set()


def note_once(path: Path, message: str) -> None:
    """Print a reader note on stderr once per file and message, as corpus._note_too_long does, so
    reading the corpus again each epoch does not repeat it."""
    key = (str(path), message)
    if key in _NOTED:
        return
    _NOTED.add(key)
    print(f"ℹ Corpus {path}: {message}", file=sys.stderr, flush=True)


_NO_KB_ID = object()


def char_spans(doc: Doc, items, where: str, key: str, *, allow_kb_id: bool = False) -> List[Span]:
    """Spans from `[start, end, label]` (or `{"start", "end", "label"}`) character offsets; with
    `allow_kb_id`, also `[start, end, label, kb_id]` (or a "kb_id" key).

    Offsets outside the text or cutting through a token are errors naming the span's text. All
    offsets are mapped to tokens in one vectorised search, so long documents stay linear.
    """
    form = "[start, end, label] or [start, end, label, kb_id]" if allow_kb_id else "[start, end, label]"
    if not isinstance(items, list):
        raise CorpusError(f'"{key}" must be a list of {form} items', where=where)
    text = doc.text
    parsed: List[Tuple[int, int, str, str]] = []
    for item in items:
        kb_id: Any = _NO_KB_ID
        if isinstance(item, dict):
            start, end, label = item.get("start"), item.get("end"), item.get("label", "")
            if allow_kb_id and "kb_id" in item:
                kb_id = item["kb_id"]
        elif isinstance(item, (list, tuple)) and len(item) == 3:
            start, end, label = item
        elif allow_kb_id and isinstance(item, (list, tuple)) and len(item) == 4:
            start, end, label, kb_id = item
        else:
            hint = "" if allow_kb_id or not (isinstance(item, list) and len(item) == 4) else (
                ' (a 4th element, kb_id, is read in "entities" only)')
            raise CorpusError(f'each of "{key}" must be {form}, got {item!r}{hint}', where=where)
        if (not isinstance(start, int) or not isinstance(end, int) or isinstance(start, bool)
                or isinstance(end, bool) or not isinstance(label, str)):
            raise CorpusError(f"span {item!r} needs integer offsets and a string label", where=where)
        if kb_id is not _NO_KB_ID and not (isinstance(kb_id, str) and kb_id):
            raise CorpusError(f'span {item!r}: kb_id must be a non-empty string (a KB id, or "NIL" for an '
                              f"entity not in the KB), got {kb_id!r}", where=where)
        if not 0 <= start < end <= len(text):
            raise CorpusError(f"span [{start}, {end}] is outside the text ({len(text)} characters)", where=where)
        parsed.append((start, end, label, "" if kb_id is _NO_KB_ID else kb_id))
    if not parsed:
        return []
    starts = numpy.fromiter((p[0] for p in parsed), dtype="int64", count=len(parsed))
    ends = numpy.fromiter((p[1] for p in parsed), dtype="int64", count=len(parsed))
    tok_starts, tok_ends, ok = token_bounds(doc, starts, ends)
    for i in numpy.flatnonzero(~ok).tolist()[:1]:
        start, end, label, _ = parsed[i]
        raise CorpusError(
            f"span [{start}, {end}] {text[start:end]!r} ({label}) does not fall on token boundaries; "
            f"tokens: {[t.text for t in doc if t.idx < end and t.idx + len(t) > start]}",
            where=where,
        )
    return [Span(doc, s, e, label=p[2], kb_id=p[3])
            for s, e, p in zip(tok_starts.tolist(), tok_ends.tolist(), parsed)]


def token_bounds(doc: Doc, starts: numpy.ndarray, ends: numpy.ndarray
                  ) -> Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """Token [start, end) of each character range, and whether it falls exactly on token
    boundaries (as Doc.char_span decides, for all ranges at once)."""
    n = len(doc)
    offsets = doc.char_offsets
    first_chars = offsets[:-1]
    last_chars = offsets[1:] - doc.spaces
    tok_starts = numpy.searchsorted(first_chars, starts)
    tok_ends = numpy.searchsorted(last_chars, ends) + 1
    if n == 0:
        return tok_starts, tok_ends, numpy.zeros(starts.shape, dtype="bool")
    ok = (tok_starts < n) & (tok_ends - 1 < n) & (tok_ends > tok_starts)
    ok &= first_chars[numpy.minimum(tok_starts, n - 1)] == starts
    ok &= last_chars[numpy.minimum(tok_ends - 1, n - 1)] == ends
    return tok_starts, tok_ends, ok
