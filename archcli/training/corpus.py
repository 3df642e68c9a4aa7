"""Corpus readers, registered so configs choose them: each is a callable `nlp -> Examples`.

`spacy.Corpus.v1` reads `.spacy` DocBin files as in spaCy, and also `.conllu` and `.jsonl`
files by extension, so a spaCy config pointed at any of them trains unchanged.
"""
import random
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Union

import srsly

from ..errors import CorpusError
from ..registry import registry
from .conllu import read_conllu
from ..tokens.example import Example

CORPUS_SUFFIXES = (".spacy", ".conllu", ".jsonl", ".iob", ".iob2", ".tsv")


def walk_corpus(path: Union[str, Path], suffixes: Iterable[str]) -> List[Path]:
    """The corpus files at `path`: the file itself, or matching files under a directory."""
    if path is None:
        raise CorpusError("no corpus path given (is paths.train / paths.dev set?)")
    path = Path(path)
    if not path.exists():
        raise CorpusError("corpus path does not exist", where=str(path))
    if path.is_file():
        return [path]
    suffixes = tuple(suffixes)
    found = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(suffixes) and not p.name.startswith("."))
    if not found:
        raise CorpusError(f"directory holds no {'/'.join(suffixes)} files", where=str(path))
    return found


class Corpus:
    """Gold examples from `.spacy`, `.conllu` or annotated `.jsonl` files."""

    def __init__(
        self,
        path: Union[str, Path],
        *,
        limit: int = 0,
        max_length: int = 0,
        gold_preproc: bool = False,
        augmenter: Optional[Callable] = None,
        shuffle: bool = False,
        n_sents: int = 10,
        tag_source: str = "xpos",
    ) -> None:
        self.path = path
        self.limit = limit
        self.max_length = max_length
        self.gold_preproc = gold_preproc
        self.augmenter = augmenter
        self.shuffle = shuffle
        self.n_sents = n_sents
        self.tag_source = tag_source

    def __call__(self, nlp) -> Iterator[Example]:
        files = walk_corpus(self.path, CORPUS_SUFFIXES)
        if self.shuffle:
            files = list(files)
            random.shuffle(files)
        n_yielded = 0
        for path in files:
            for doc, where in self._read_file(path, nlp):
                if self.max_length and len(doc) > self.max_length:
                    continue
                example = Example.from_gold(doc, source=where)
                if self.augmenter is not None:
                    yield from self.augmenter(nlp, example)
                else:
                    yield example
                n_yielded += 1
                if self.limit and n_yielded >= self.limit:
                    return
        if n_yielded == 0:
            raise CorpusError("the corpus holds no documents", where=str(self.path))

    def _read_file(self, path: Path, nlp):
        if path.name.endswith(".conllu"):
            for doc, line in read_conllu(path, nlp.vocab, n_sents=self.n_sents, tag_source=self.tag_source):
                yield doc, f"{path}:{line}"
        elif path.name.endswith((".iob", ".iob2")):
            from .iob import read_iob

            for doc, line in read_iob(path, nlp.vocab, n_sents=self.n_sents):
                yield doc, f"{path}:{line}"
        elif path.name.endswith(".jsonl"):
            from .jsonl import read_annotated_jsonl

            yield from read_annotated_jsonl(path, nlp)
        elif path.name.endswith(".tsv"):
            from .litbank import read_litbank

            for doc, line in read_litbank(path, nlp.vocab, n_sents=self.n_sents):
                yield doc, f"{path}:{line}"
        else:
            from ..tokens.docbin import read_docbin

            for i, doc in enumerate(read_docbin(path, nlp.vocab)):
                yield doc, f"{path}#doc{i}"


@registry.readers("spacy.Corpus.v1")
def create_docbin_reader(
    path: Optional[str],
    gold_preproc: bool = False,
    max_length: int = 0,
    limit: int = 0,
    augmenter: Optional[Callable] = None,
) -> Callable[..., Iterator[Example]]:
    """spaCy's corpus reader: `.spacy` files, plus `.conllu`/`.iob2`/`.jsonl` chosen by extension."""
    return Corpus(path, limit=limit, max_length=max_length, gold_preproc=gold_preproc, augmenter=augmenter)


@registry.readers("archcli.ConlluCorpus.v1")
def create_conllu_reader(
    path: Optional[str],
    n_sents: int = 10,
    tag_source: str = "xpos",
    max_length: int = 0,
    limit: int = 0,
) -> Callable[..., Iterator[Example]]:
    """CoNLL-U with `n_sents` sentences per doc; `tag_source="upos"` trains a UPOS tagger."""
    return Corpus(path, limit=limit, max_length=max_length, n_sents=n_sents, tag_source=tag_source)


@registry.readers("archcli.IobCorpus.v1")
def create_iob_reader(
    path: Optional[str], n_sents: int = 10, max_length: int = 0, limit: int = 0
) -> Callable[..., Iterator[Example]]:
    """CoNLL-style NER (IOB, IOB2 or BILUO tags), `n_sents` sentences per doc."""
    return Corpus(path, limit=limit, max_length=max_length, n_sents=n_sents)


@registry.readers("spacy.JsonlCorpus.v1")
def create_jsonl_reader(
    path: Optional[str], min_length: int = 0, max_length: int = 0, limit: int = 0, on_error: str = "stop"
) -> Callable[..., Iterator[Example]]:
    """Raw text, one `{"text": …}` (or `{"tokens": […]}`) object per line; no annotations.

    A malformed line or an empty text stops the run with its line number (`on_error = "stop"`), or
    is reported once with its line number and skipped (`on_error = "skip"`). Blank lines are
    skipped silently, as spaCy does.
    """
    if on_error not in ("stop", "skip"):
        raise CorpusError(f"on_error must be \"stop\" or \"skip\", not {on_error!r}", where="spacy.JsonlCorpus.v1")
    return JsonlTexts(path, min_length=min_length, max_length=max_length, limit=limit, on_error=on_error)


registry.readers.register("archcli.JsonlCorpus.v1", func=create_jsonl_reader)


class JsonlTexts:
    def __init__(self, path, *, min_length: int = 0, max_length: int = 0, limit: int = 0,
                 on_error: str = "stop") -> None:
        self.path = path
        self.min_length = min_length
        self.max_length = max_length
        self.limit = limit
        self.on_error = on_error
        self.skipped: Dict[str, str] = {}  # "file:line" -> reason, reported once across epochs

    def __call__(self, nlp) -> Iterator[Example]:
        n_yielded = 0
        for path in walk_corpus(self.path, (".jsonl",)):
            for line_no, record in _read_raw_text_lines(path):
                doc = _raw_text_doc(record, nlp) if not isinstance(record, str) else record
                if isinstance(doc, str):
                    self._bad_line(f"{path}:{line_no}", doc)
                    continue
                if self.min_length and len(doc) < self.min_length:
                    continue
                if self.max_length and len(doc) > self.max_length:
                    continue
                yield Example(doc, doc.copy(), source=f"{path}:{line_no}")
                n_yielded += 1
                if self.limit and n_yielded >= self.limit:
                    return
        if n_yielded == 0:
            raise CorpusError("the corpus holds no texts", where=str(self.path))

    def _bad_line(self, where: str, reason: str) -> None:
        if self.on_error == "stop":
            raise CorpusError(f"{reason} (set on_error = \"skip\" in the reader block to skip such lines)",
                              where=where)
        if where not in self.skipped:
            self.skipped[where] = reason
            import sys

            print(f"⚠ {where}: {reason}; line skipped", file=sys.stderr, flush=True)


def _read_raw_text_lines(path: Path) -> Iterator:
    """(line number, JSON object) per non-blank line, or (line number, reason) for a malformed one."""
    try:
        file_ = open(path, encoding="utf8")
    except OSError as err:
        raise CorpusError(f"cannot open: {err.strerror}", where=str(path))
    with file_:
        try:
            for line_no, line in enumerate(file_, start=1):
                if not line.strip():
                    continue  # blank lines separate nothing, as srsly.read_jsonl (spaCy) skips them
                try:
                    record = srsly.json_loads(line)
                except ValueError as err:
                    yield line_no, f"not valid JSON ({err})"
                    continue
                yield line_no, (record if isinstance(record, dict) else "not a JSON object")
        except UnicodeDecodeError as err:
            raise CorpusError(f"not UTF-8 text ({err.reason})", where=str(path))


def _raw_text_doc(record: Dict, nlp):
    """The Doc a raw-text record describes, or the reason it describes none."""
    from ..tokens import Doc

    tokens = record.get("tokens")
    if tokens is not None:
        if not isinstance(tokens, list) or not all(isinstance(t, str) and t.strip() for t in tokens):
            return '"tokens" must be a list of non-empty strings'
        return Doc(nlp.vocab, tokens) if tokens else "empty text (no tokens)"
    text = record.get("text")
    if not isinstance(text, str):
        return 'expected an object with a "text" string or a "tokens" list'
    if not text.strip():
        return "empty text"
    return nlp.make_doc(text)


def _read_jsonl_lines(path: Path):
    try:
        file_ = open(path, encoding="utf8")
    except OSError as err:
        raise CorpusError(f"cannot open: {err.strerror}", where=str(path))
    with file_:
        for line_no, line in enumerate(file_, start=1):
            if not line.strip():
                continue
            try:
                record = srsly.json_loads(line)
            except ValueError as err:
                raise CorpusError(f"not valid JSON ({err})", where=f"{path}:{line_no}")
            if not isinstance(record, dict):
                raise CorpusError("each line must be a JSON object", where=f"{path}:{line_no}")
            yield line_no, record


from . import litbank  # noqa: E402,F401  (registers archcli.LitBankCorpus.v1)
