"""Corpus readers, registered so configs choose them: each is a callable `nlp -> Examples`.

`spacy.Corpus.v1` reads `.spacy` DocBin files as in spaCy, and also `.conllu` and `.jsonl`
files by extension, so a spaCy config pointed at any of them trains unchanged.
"""
import random
from pathlib import Path
from typing import Callable, Iterable, Iterator, List, Optional, Union

import srsly

from ..errors import CorpusError
from ..registry import registry
from .conllu import read_conllu
from .example import Example

CORPUS_SUFFIXES = (".spacy", ".conllu", ".jsonl", ".iob", ".iob2")


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
    path: Optional[str], min_length: int = 0, max_length: int = 0, limit: int = 0
) -> Callable[..., Iterator[Example]]:
    """Raw text, one `{"text": …}` (or `{"tokens": […]}`) object per line; no annotations."""
    return JsonlTexts(path, min_length=min_length, max_length=max_length, limit=limit)


registry.readers.register("archcli.JsonlCorpus.v1", func=create_jsonl_reader)


class JsonlTexts:
    def __init__(self, path, *, min_length: int = 0, max_length: int = 0, limit: int = 0) -> None:
        self.path = path
        self.min_length = min_length
        self.max_length = max_length
        self.limit = limit

    def __call__(self, nlp) -> Iterator[Example]:
        n_yielded = 0
        for path in walk_corpus(self.path, (".jsonl",)):
            for line_no, record in _read_jsonl_lines(path):
                if "tokens" in record and isinstance(record["tokens"], list):
                    from ..tokens import Doc

                    doc = Doc(nlp.vocab, [str(t) for t in record["tokens"]])
                elif isinstance(record.get("text"), str):
                    doc = nlp.make_doc(record["text"])
                else:
                    raise CorpusError('expected an object with a "text" string or a "tokens" list',
                                      where=f"{path}:{line_no}")
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
