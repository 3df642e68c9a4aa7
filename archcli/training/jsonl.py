"""Annotated JSONL: `{"text", "words"?, "tags"?, "cats"?, …}` per line, for quick samples.

Reads text or gold tokens (`words`, `spaces`), per-token `tags`/`pos`/`lemmas`, and
`entities` as character offsets `[start, end, label]`.
"""
from pathlib import Path
from typing import Iterator, List, Tuple

from ..errors import CorpusError
from ..tokens import Doc, Span


def read_annotated_jsonl(path: Path, nlp) -> Iterator[Tuple[Doc, str]]:
    from .corpus import _read_jsonl_lines

    for line_no, record in _read_jsonl_lines(path):
        where = f"{path}:{line_no}"
        if isinstance(record.get("words"), list):
            words = [str(w) for w in record["words"]]
            spaces = record.get("spaces")
            if spaces is not None and len(spaces) != len(words):
                raise CorpusError(f'"spaces" has {len(spaces)} values for {len(words)} words', where=where)
            doc = Doc(nlp.vocab, words, [bool(s) for s in spaces] if spaces is not None else None)
        elif isinstance(record.get("text"), str):
            doc = nlp.make_doc(record["text"])
        else:
            raise CorpusError('expected a "text" string or a "words" list', where=where)
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
        yield doc, where


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
