"""Prodigy entity-linking annotations, one task per line, as Prodigy's choice interface exports them.

`{"text", "spans": [{"start", "end", "label", …}], "accept": [id], "answer": "accept", …}` (spaCy's
nel_emerson tutorial data): the task's one span is the mention, `accept[0]` the chosen KB id. Ids Prodigy
offers for "none of these" (`NIL_otherLink`, `NIL_ambiguous`: any id starting with "NIL") and an empty
`accept` become "NIL". Tasks answered "reject" or "ignore" are skipped and counted, as spaCy's tutorial
keeps only accepted ones. Prodigy's own `tokens` (`{"text", "ws"}` each) are used when present, so span
offsets meet token boundaries as Prodigy cut them; other keys (`options`, `meta`, hashes) are ignored.
"""
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional, Tuple, Union

from .._registry import registry
from ..errors import CorpusError
from ..ml.checks import require_size
from ..tokens import Doc
from ..tokens.example import Example
from .corpus_files import read_jsonl_objects, walk_corpus
from .offsets import FileCounts, char_spans

NIL = "NIL"


def is_prodigy_el(record: Dict[str, Any]) -> bool:
    """A Prodigy entity-linking task: "accept" and "answer" keys and `spans` as a list of objects."""
    spans = record.get("spans")
    return ("accept" in record and "answer" in record and isinstance(spans, list)
            and all(isinstance(span, dict) for span in spans))


def prodigy_el_doc(record: Dict[str, Any], nlp, where: str) -> Optional[Doc]:
    """The gold Doc of an accepted task (its span linked to `accept[0]`), or None for another answer."""
    answer = record.get("answer")
    if not isinstance(answer, str):
        raise CorpusError(f'"answer" must be a string ("accept", "reject" or "ignore"), got {answer!r}', where=where)
    if answer != "accept":
        return None
    doc = _task_doc(record, nlp, where)
    kb_id = accepted_kb_id(record.get("accept"), where)
    spans = char_spans(doc, record["spans"], where, "spans")
    if len(spans) > 1:
        raise CorpusError(f'{len(spans)} spans in one task; a Prodigy entity-linking task links one span '
                          '(its "accept" names the id)', where=where)
    for span in spans:
        span.kb_id_ = kb_id
    doc.ents = spans
    doc.user_data["ents_known"] = True
    return doc


def accepted_kb_id(accept: Any, where: str) -> str:
    """`accept[0]`, with Prodigy's NIL options (ids starting with "NIL") and no choice as "NIL"."""
    if accept is None or accept == []:
        return NIL
    if not isinstance(accept, list):
        raise CorpusError(f'"accept" must be a list of chosen ids, got {accept!r}', where=where)
    kb_id = accept[0]
    if not isinstance(kb_id, str) or not kb_id:
        raise CorpusError(f'"accept"[0] must be a KB id string, got {kb_id!r}', where=where)
    return NIL if kb_id.startswith(NIL) else kb_id


def _task_doc(record: Dict[str, Any], nlp, where: str) -> Doc:
    """The task's Doc from Prodigy's `tokens` when it has them (they must spell out `text`), else
    from `text` through the pipeline's tokenizer."""
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise CorpusError('a Prodigy task needs a non-empty "text" string', where=where)
    tokens = record.get("tokens")
    if tokens is None:
        return nlp.make_doc(text)
    if not (isinstance(tokens, list) and tokens and all(
            isinstance(t, dict) and isinstance(t.get("text"), str) and t["text"] for t in tokens)):
        raise CorpusError('"tokens" must be a list of {"text", "ws"} objects with non-empty texts', where=where)
    doc = Doc(nlp.vocab, [t["text"] for t in tokens], [bool(t.get("ws", True)) for t in tokens])
    if doc.text.rstrip() != text.rstrip():
        raise CorpusError('"tokens" (with their "ws" spaces) do not spell out "text", so the span offsets '
                          "cannot be placed on them", where=where)
    return doc


def read_prodigy_el(path: Path, nlp) -> Iterator[Tuple[Doc, str]]:
    """(doc, "file:line") per accepted task of a Prodigy entity-linking export; every line must be one."""
    counts = FileCounts()
    try:
        for line_no, record in read_jsonl_objects(path):
            where = f"{path}:{line_no}"
            if not is_prodigy_el(record):
                raise CorpusError('not a Prodigy entity-linking task (expected "text", "spans" as a list of '
                                  'objects, "accept" and "answer")', where=where)
            doc = prodigy_el_doc(record, nlp, where)
            if doc is None:
                answer = str(record.get("answer"))
                counts.prodigy_skipped[answer] = counts.prodigy_skipped.get(answer, 0) + 1
                continue
            yield doc, where
    except GeneratorExit:  # a `limit` stopped early: still say what was skipped so far
        counts.note(path)
        raise
    counts.note(path)


class ProdigyELCorpus:
    """Gold examples from the accepted tasks of Prodigy entity-linking `.jsonl` exports."""

    def __init__(self, path: Union[str, Path, None], *, limit: int = 0) -> None:
        self.path = path
        self.limit = limit

    def __call__(self, nlp) -> Iterator[Example]:
        n_yielded = 0
        for path in walk_corpus(self.path, (".jsonl",)):
            for doc, where in read_prodigy_el(path, nlp):
                yield Example.from_gold(doc, source=where)
                n_yielded += 1
                if self.limit and n_yielded >= self.limit:
                    return
        if n_yielded == 0:
            raise CorpusError('the corpus holds no accepted Prodigy tasks (answer "accept")', where=str(self.path))


@registry.readers("archcli.ProdigyEL.v1")
def create_prodigy_el_reader(path: Optional[str], limit: int = 0) -> Callable[..., Iterator[Example]]:
    """Prodigy entity-linking exports only (spacy.Corpus.v1 also reads them inside any `.jsonl`)."""
    require_size("archcli.ProdigyEL.v1", minimum=0, limit=limit)
    return ProdigyELCorpus(path, limit=limit)
