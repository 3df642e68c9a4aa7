"""Annotated JSONL: `{"text", "words"?, "tags"?, "cats"?, …}` per line, for quick samples.

Later readers (entities, spans, cats) extend `read_annotated_jsonl`; today it reads text,
optional gold tokens (`words`, `spaces`) and per-token `tags`/`pos`.
"""
from pathlib import Path
from typing import Iterator, Tuple

from ..errors import CorpusError
from ..tokens import Doc


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
        yield doc, where
