"""Annotated JSONL: `{"text", "words"?, "tags"?, "cats"?, …}` per line, for quick samples.

Reads text or gold tokens (`words`, `spaces` as true/false or 1/0), per-token `tags`/`pos`/`lemmas`, and
`entities` as character offsets `[start, end, label]`, or `[start, end, label, kb_id]` for entity linking
(`kb_id` a KB id or "NIL"); `sents` as `[[start, end], …]` character offsets of sentences; `cats` as
`{label: score in [0, 1]}`; and `spans` as `[start, end, label]` character offsets into
doc.spans[`spans_key`] (default "sc"), or as `{key: [[start, end, label], …]}` for several groups. Spans
may nest and overlap; entities may not, except in entity-linking records (those with kb_ids, as
LitBank-EL's nested place names), where the outermost of overlapping mentions is kept and the others are
dropped and counted. A Prodigy entity-linking task (`spans`, `accept`, `answer`) is read by `prodigy`.
"""
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import numpy

from ..errors import CorpusError
from ..tokens import Doc, Span
from .corpus_files import read_jsonl_objects
from .offsets import FileCounts, char_spans, token_bounds
from .prodigy import is_prodigy_el, prodigy_el_doc


def read_annotated_jsonl(path: Path, nlp) -> Iterator[Tuple[Doc, str]]:
    counts = FileCounts()
    try:
        yield from _read_records(path, nlp, counts)
    except GeneratorExit:  # a reader `limit` stopped early: still say what was left out so far
        counts.note(path)
        raise
    counts.note(path)


def _read_records(path: Path, nlp, counts: FileCounts) -> Iterator[Tuple[Doc, str]]:
    for line_no, record in read_jsonl_objects(path):
        where = f"{path}:{line_no}"
        if is_prodigy_el(record):
            doc = prodigy_el_doc(record, nlp, where)
            if doc is None:
                answer = str(record.get("answer"))
                counts.prodigy_skipped[answer] = counts.prodigy_skipped.get(answer, 0) + 1
                continue
            yield doc, where
            continue
        doc = record_doc(record, nlp, where)
        for key, name in (("tags", "tag"), ("pos", "pos"), ("lemmas", "lemma")):
            values = record.get(key)
            if values is not None:
                if not isinstance(values, list) or len(values) != len(doc):
                    raise CorpusError(
                        f'"{key}" must be a list with one value per token ({len(doc)} tokens)', where=where
                    )
                doc.set_strings(name, [str(v) if v else "" for v in values])
        if "sents" in record:
            set_sents(doc, record["sents"], where)
        if "entities" in record:
            spans = char_spans(doc, record["entities"], where, "entities", allow_kb_id=True)
            if any(span.kb_id_ for span in spans):
                spans, n_dropped = outermost_spans(spans)
                counts.nested_ents += n_dropped
            else:
                ordered = sorted(spans, key=lambda span: (span.start, span.end))
                for prev, span in zip(ordered, ordered[1:]):
                    if span.start < prev.end:
                        raise CorpusError(f"entities {prev.text!r} and {span.text!r} overlap", where=where)
            doc.ents = spans
            doc.user_data["ents_known"] = True
        if "cats" in record:
            doc.cats = read_cats(record["cats"], where)
        if "spans" in record:
            spans_key = record.get("spans_key", "sc")
            if not isinstance(spans_key, str) or not spans_key:
                raise CorpusError(f'"spans_key" must be a non-empty string, got {spans_key!r}', where=where)
            doc.spans.update(read_span_groups(doc, record["spans"], spans_key, where))
        yield doc, where


def record_doc(record: Dict[str, Any], nlp, where: str) -> Doc:
    """The unannotated Doc of a record: its gold `words` (and `spaces`), or its tokenised `text`."""
    if isinstance(record.get("words"), list):
        words = record["words"]
        bad = [i for i, w in enumerate(words) if not isinstance(w, str) or not w]
        if bad:
            raise CorpusError(f'"words"[{bad[0]}] is {words[bad[0]]!r}; words must be non-empty strings',
                              where=where)
        spaces = record.get("spaces")
        if spaces is not None:
            # 0/1 as well as true/false, as spaCy takes them.
            if not (isinstance(spaces, list) and all(type(s) in (bool, int) and s in (0, 1) for s in spaces)):
                raise CorpusError('"spaces" must be a list of true/false (or 1/0) values', where=where)
            if len(spaces) != len(words):
                raise CorpusError(f'"spaces" has {len(spaces)} values for {len(words)} words', where=where)
            spaces = [bool(s) for s in spaces]
        doc = Doc(nlp.vocab, words, spaces)
    elif isinstance(record.get("text"), str):
        doc = nlp.make_doc(record["text"])
    else:
        raise CorpusError('expected a "text" string or a "words" list', where=where)
    if not doc.text.strip():
        raise CorpusError("empty text (no tokens, or only whitespace)", where=where)
    return doc


def outermost_spans(spans: List[Span]) -> Tuple[List[Span], int]:
    """The spans left when, of overlapping ones, only the longest (then the first) is kept, and how
    many were dropped: nested mentions ("Paris" inside "Paris Street") give way to the outer one."""
    if not spans:
        return [], 0
    taken = numpy.zeros((max(span.end for span in spans),), dtype="bool")
    kept = []
    for span in sorted(spans, key=lambda s: (s.start - s.end, s.start)):
        if not taken[span.start : span.end].any():
            taken[span.start : span.end] = True
            kept.append(span)
    kept.sort(key=lambda s: (s.start, s.end))
    return kept, len(spans) - len(kept)


def set_sents(doc: Doc, value: Any, where: str) -> None:
    """Sentence starts from `[[start_char, end_char], …]`: the first token of each range starts a
    sentence (1), the others inside it do not (-1); tokens outside every range stay unknown (0)."""
    if not isinstance(value, list):
        raise CorpusError('"sents" must be a list of [start, end] character offsets', where=where)
    bounds = []
    for item in value:
        if not (isinstance(item, (list, tuple)) and len(item) == 2
                and all(isinstance(x, int) and not isinstance(x, bool) for x in item)):
            raise CorpusError(f'each of "sents" must be [start, end] with integer offsets, got {item!r}', where=where)
        bounds.append((item[0], item[1]))
    if not bounds:
        return
    starts, ends = (numpy.asarray(column, dtype="int64") for column in zip(*bounds))
    tok_starts, tok_ends, ok = token_bounds(doc, starts, ends)
    text = doc.text
    for i in numpy.flatnonzero(~ok).tolist()[:1]:
        start, end = bounds[i]
        if not 0 <= start < end <= len(text):
            raise CorpusError(f"sentence [{start}, {end}] is outside the text ({len(text)} characters)", where=where)
        cut = _cut_tokens(doc, start, end)
        detail = f"it cuts through the token(s) {cut}" if cut else "it starts or ends on whitespace between tokens"
        raise CorpusError(f"sentence [{start}, {end}] {_clip(text[start:end])!r} does not fall on token boundaries: "
                          f"{detail}", where=where)
    order = numpy.argsort(tok_starts, kind="stable")
    tok_starts, tok_ends = tok_starts[order], tok_ends[order]
    overlap = numpy.flatnonzero(tok_starts[1:] < tok_ends[:-1])
    if overlap.size:
        a, b = (bounds[int(order[k])] for k in (overlap[0], overlap[0] + 1))
        raise CorpusError(f"sentences {list(a)} and {list(b)} overlap", where=where)
    for start, end in zip(tok_starts.tolist(), tok_ends.tolist()):
        doc.sent_start[start:end] = -1
    doc.sent_start[tok_starts] = 1


def read_cats(value: Any, where: str) -> Dict[str, float]:
    """`{label: score}` with every score a number in [0, 1] (booleans and strings are errors)."""
    if not isinstance(value, dict):
        raise CorpusError(f'"cats" must be an object {{label: 0 or 1}}, got {type(value).__name__}', where=where)
    cats: Dict[str, float] = {}
    for label, score in value.items():
        if not label:
            raise CorpusError('"cats" has an empty label', where=where)
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0.0 <= score <= 1.0:
            raise CorpusError(f"cats[{label!r}] = {score!r} is not a number in [0, 1]", where=where)
        cats[str(label)] = float(score)
    return cats


def read_span_groups(doc: Doc, value: Any, default_key: str, where: str) -> Dict[str, List[Span]]:
    """Span groups from `[[start, end, label], …]` (under `default_key`) or `{key: [[…], …]}`."""
    groups = value if isinstance(value, dict) else {default_key: value}
    result: Dict[str, List[Span]] = {}
    for key, items in groups.items():
        if not isinstance(key, str) or not key:
            raise CorpusError(f"span group key must be a non-empty string, got {key!r}", where=where)
        spans = char_spans(doc, items, where, "spans")
        if any(not span.label_ for span in spans):
            raise CorpusError(f'every span in "spans" needs a label (group {key!r})', where=where)
        result[key] = spans
    return result


def _cut_tokens(doc: Doc, start: int, end: int) -> List[str]:
    """The tokens a character range [start, end) cuts through at either edge."""
    return [t.text for t in doc
            if (t.idx < start < t.idx + len(t)) or (t.idx < end < t.idx + len(t))]


def _clip(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
