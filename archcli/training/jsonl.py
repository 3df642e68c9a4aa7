"""Annotated JSONL: `{"text", "words"?, "tags"?, "cats"?, …}` per line, for quick samples.

Reads text or gold tokens (`words`, `spaces` as true/false or 1/0), per-token `tags`/`pos`/`lemmas`, and
`entities` as character offsets `[start, end, label]`; `cats` as `{label: score in [0, 1]}`; and
`spans` as `[start, end, label]` character offsets into doc.spans[`spans_key`] (default "sc"), or
as `{key: [[start, end, label], …]}` for several groups. Spans may nest and overlap.
"""
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

from ..errors import CorpusError
from ..tokens import Doc, Span
from .corpus_files import read_jsonl_objects


def read_annotated_jsonl(path: Path, nlp) -> Iterator[Tuple[Doc, str]]:
    for line_no, record in read_jsonl_objects(path):
        where = f"{path}:{line_no}"
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
        for key, name in (("tags", "tag"), ("pos", "pos"), ("lemmas", "lemma")):
            values = record.get(key)
            if values is not None:
                if not isinstance(values, list) or len(values) != len(doc):
                    raise CorpusError(
                        f'"{key}" must be a list with one value per token ({len(doc)} tokens)', where=where
                    )
                doc.set_strings(name, [str(v) if v else "" for v in values])
        if "entities" in record:
            spans = char_spans(doc, record["entities"], where, "entities")
            ordered = sorted(spans, key=lambda span: (span.start, span.end))
            for prev, span in zip(ordered, ordered[1:]):
                if span.start < prev.end:
                    raise CorpusError(f"entities {prev.text!r} and {span.text!r} overlap", where=where)
            doc.ents = ordered
            doc.user_data["ents_known"] = True
        if "cats" in record:
            doc.cats = read_cats(record["cats"], where)
        if "spans" in record:
            spans_key = record.get("spans_key", "sc")
            if not isinstance(spans_key, str) or not spans_key:
                raise CorpusError(f'"spans_key" must be a non-empty string, got {spans_key!r}', where=where)
            doc.spans.update(read_span_groups(doc, record["spans"], spans_key, where))
        yield doc, where


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


def char_spans(doc: Doc, items, where: str, key: str) -> List[Span]:
    """Spans from `[start, end, label]` (or `{"start", "end", "label"}`) character offsets.

    Offsets outside the text or cutting through a token are errors naming the span's text.
    """
    if not isinstance(items, list):
        raise CorpusError(f'"{key}" must be a list of [start, end, label] items', where=where)
    text = doc.text
    spans = []
    for item in items:
        if isinstance(item, dict):
            start, end, label = item.get("start"), item.get("end"), item.get("label", "")
        elif isinstance(item, (list, tuple)) and len(item) == 3:
            start, end, label = item
        else:
            raise CorpusError(f'each of "{key}" must be [start, end, label], got {item!r}', where=where)
        if not isinstance(start, int) or not isinstance(end, int) or not isinstance(label, str):
            raise CorpusError(f"span {item!r} needs integer offsets and a string label", where=where)
        if not 0 <= start < end <= len(text):
            raise CorpusError(f"span [{start}, {end}] is outside the text ({len(text)} characters)", where=where)
        span = doc.char_span(start, end, label=label)
        if span is None:
            raise CorpusError(
                f"span [{start}, {end}] {text[start:end]!r} ({label}) does not fall on token boundaries; "
                f"tokens: {[t.text for t in doc if t.idx < end and t.idx + len(t) > start]}",
                where=where,
            )
        spans.append(span)
    return spans
