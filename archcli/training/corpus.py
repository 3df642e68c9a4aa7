"""Corpus readers, registered so configs choose them: each is a callable `nlp -> Examples`.

`spacy.Corpus.v1` reads `.spacy` DocBin files as in spaCy, and also `.conllu` and `.jsonl`
files by extension, so a spaCy config pointed at any of them trains unchanged.
"""
import random
import sys
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Set, Union


from ..errors import CorpusError
from .._registry import registry
from ..ml.checks import bad_argument, require_size
from ..tokens.doc import Doc
from ..tokens.docbin import read_docbin
from ..tokens.example import Example
from .conll2012 import Conll2012Corpus, read_conll2012
from .conllu import read_conllu
from .coref_heads import DEFAULT_HEADS, heads_option_problem
from .corpus_files import read_jsonl_records, walk_corpus
from .iob import read_iob
from .jsonl import read_annotated_jsonl
from .litbank import read_litbank

CORPUS_SUFFIXES = (".spacy", ".conllu", ".jsonl", ".iob", ".iob2", ".tsv", ".conll")
__all__ = ["Corpus", "JsonlTexts", "walk_corpus", "CORPUS_SUFFIXES"]


class Corpus:
    """Gold examples from `.spacy`, `.conllu` or annotated `.jsonl` files."""

    def __init__(
        self,
        path: Union[str, Path],
        *,
        limit: int = 0,
        max_length: int = 0,
        gold_preproc: Optional[bool] = None,
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
        skipped = [0]
        for path in files:
            for doc, where in self._read_file(path, nlp):
                for part in self._within_max_length(doc, skipped, where):
                    for unit in self._gold_sentences(part, where) if self.gold_preproc else (part,):
                        example = self._example(unit, nlp, where)
                        if self.augmenter is not None:
                            yield from self.augmenter(nlp, example)
                        else:
                            yield example
                        n_yielded += 1
                        if self.limit and n_yielded >= self.limit:
                            _note_too_long(self.path, self.max_length, skipped[0])
                            return
        _note_too_long(self.path, self.max_length, skipped[0])
        if n_yielded == 0:
            raise CorpusError("the corpus holds no documents", where=str(self.path))

    def _example(self, gold: Doc, nlp, where: str) -> Example:
        """spaCy's `gold_preproc`: false (spacy.Corpus.v1's default) tokenises the doc's raw text
        with the pipeline's tokenizer and aligns the gold annotation to it; true (or archcli's own
        readers, which have no such option) keeps the corpus's tokens."""
        if self.gold_preproc is not False:
            return Example.from_gold(gold, source=where)
        try:
            predicted = nlp.make_doc(gold.text)
        except ValueError as err:
            raise CorpusError(str(err), where=where) from None
        return Example(predicted, gold, source=where)

    @staticmethod
    def _gold_sentences(doc: Doc, where: str) -> List[Doc]:
        """gold_preproc = true: each gold sentence its own doc, as spaCy does."""
        if any(key.startswith(COREF_SPAN_KEYS) for key in doc.spans):
            raise CorpusError("gold_preproc = true splits documents into sentences, which would cut their "
                              "coreference clusters apart; set gold_preproc = false", where=where)
        if not (doc.sent_start[1:] == 1).any():
            return [doc]
        return [doc.slice_doc(sent.start, sent.end) for sent in doc.sents]

    def _within_max_length(self, doc: Doc, skipped: List[int], where: str) -> List[Doc]:
        """As spaCy: a doc longer than max_length is split into its gold sentences, and a part
        still too long (or a doc without sentence boundaries) is skipped and counted. A doc with
        coreference clusters is refused instead: its sentences would cut the clusters apart."""
        if not self.max_length or len(doc) <= self.max_length:
            return [doc]
        if any(key.startswith(COREF_SPAN_KEYS) for key in doc.spans):
            raise CorpusError(
                f"document of {len(doc)} words is longer than the corpus's max_length = {self.max_length}, and "
                "splitting it into sentences (what max_length does) would cut its coreference clusters apart; "
                "set max_length = 0 (archcli's coreference model is linear in the document's length)", where=where)
        if not (doc.sent_start[1:] == 1).any():
            skipped[0] += 1
            return []
        parts = [doc.slice_doc(sent.start, sent.end) for sent in doc.sents]
        kept = [part for part in parts if len(part) <= self.max_length]
        skipped[0] += len(parts) - len(kept)
        return kept

    def _read_file(self, path: Path, nlp):
        if path.name.endswith(".conllu"):
            for doc, line in read_conllu(path, nlp.vocab, n_sents=self.n_sents, tag_source=self.tag_source):
                yield doc, f"{path}:{line}"
        elif path.name.endswith((".iob", ".iob2")):
            for doc, line in read_iob(path, nlp.vocab, n_sents=self.n_sents):
                yield doc, f"{path}:{line}"
        elif path.name.endswith(".jsonl"):
            yield from read_annotated_jsonl(path, nlp)
        elif path.name.endswith(".tsv"):
            for doc, line in read_litbank(path, nlp.vocab, n_sents=self.n_sents):
                yield doc, f"{path}:{line}"
        elif path.name.endswith(".conll"):
            for doc, line in read_conll2012(path, nlp.vocab):
                yield doc, f"{path}:{line}"
        else:
            for i, doc in enumerate(read_docbin(path, nlp.vocab)):
                yield doc, f"{path}#doc{i}"


_TOO_LONG_NOTED: Set[tuple] = set()
COREF_SPAN_KEYS = ("coref_clusters_", "coref_head_clusters_")


def _note_too_long(path, max_length: int, n_skipped: int) -> None:
    """Say once per corpus how many docs or sentences max_length left out (never in silence)."""
    key = (str(path), max_length, n_skipped)
    if not n_skipped or key in _TOO_LONG_NOTED:
        return
    _TOO_LONG_NOTED.add(key)
    print(f"ℹ Corpus {path}: {n_skipped} document(s) or sentence(s) longer than max_length = {max_length} "
          "tokens skipped (a longer document is split into its sentences where it has them)",
          file=sys.stderr, flush=True)


@registry.readers("spacy.Corpus.v1")
def create_docbin_reader(
    path: Optional[str],
    gold_preproc: bool = False,
    max_length: int = 0,
    limit: int = 0,
    augmenter: Optional[Callable] = None,
) -> Callable[..., Iterator[Example]]:
    """spaCy's corpus reader: `.spacy` files, plus `.conllu`/`.iob2`/`.jsonl` chosen by extension."""
    _check_sizes("spacy.Corpus.v1", max_length=max_length, limit=limit)
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
    _check_sizes("archcli.ConlluCorpus.v1", max_length=max_length, limit=limit, n_sents=n_sents)
    return Corpus(path, limit=limit, max_length=max_length, n_sents=n_sents, tag_source=tag_source)


@registry.readers("archcli.IobCorpus.v1")
def create_iob_reader(
    path: Optional[str], n_sents: int = 10, max_length: int = 0, limit: int = 0
) -> Callable[..., Iterator[Example]]:
    """CoNLL-style NER (IOB, IOB2 or BILUO tags), `n_sents` sentences per doc."""
    _check_sizes("archcli.IobCorpus.v1", max_length=max_length, limit=limit, n_sents=n_sents)
    return Corpus(path, limit=limit, max_length=max_length, n_sents=n_sents)


@registry.readers("archcli.Conll2012Corpus.v1")
def create_conll2012_reader(path: Optional[str], limit: int = 0, heads: str = DEFAULT_HEADS) -> Conll2012Corpus:
    """CoNLL-2012 coreference (`.conll`): one doc per document, chains in `coref_clusters_N`, their
    head words in `coref_head_clusters_N` from `heads` = "rule" or "parser:PATH" (coref_heads.py)."""
    _check_sizes("archcli.Conll2012Corpus.v1", limit=limit)
    problem = heads_option_problem(heads)
    if problem:
        raise bad_argument("archcli.Conll2012Corpus.v1", "heads", problem)
    return Conll2012Corpus(path, limit=limit, heads=heads)


@registry.readers("spacy.JsonlCorpus.v1")
def create_jsonl_reader(
    path: Optional[str], min_length: int = 0, max_length: int = 0, limit: int = 0, on_error: str = "stop"
) -> Callable[..., Iterator[Example]]:
    """Raw text, one `{"text": …}` (or `{"tokens": […]}`) object per line; no annotations.

    A malformed line or an empty text stops the run with its line number (`on_error = "stop"`), or
    is reported once with its line number and skipped (`on_error = "skip"`). Blank lines are
    skipped silently, as spaCy does.
    """
    return _jsonl_reader("spacy.JsonlCorpus.v1", path, min_length, max_length, limit, on_error)


@registry.readers("archcli.JsonlCorpus.v1")
def create_archcli_jsonl_reader(
    path: Optional[str], min_length: int = 0, max_length: int = 0, limit: int = 0, on_error: str = "stop"
) -> Callable[..., Iterator[Example]]:
    """spacy.JsonlCorpus.v1 under archcli's name."""
    return _jsonl_reader("archcli.JsonlCorpus.v1", path, min_length, max_length, limit, on_error)


def _jsonl_reader(arch: str, path, min_length: int, max_length: int, limit: int, on_error: str) -> "JsonlTexts":
    _check_sizes(arch, min_length=min_length, max_length=max_length, limit=limit)
    if on_error not in ("stop", "skip"):
        raise CorpusError(f"on_error must be \"stop\" or \"skip\", not {on_error!r}", where=arch)
    return JsonlTexts(path, min_length=min_length, max_length=max_length, limit=limit, on_error=on_error)


def _check_sizes(arch: str, *, n_sents: Optional[int] = None, **sizes: int) -> None:
    """Lengths and limits are integers >= 0 (0: no limit), `n_sents` >= 1; a refusal is an
    archcli.ml.checks error, which resolve_block re-addresses to the key (corpora.train.max_length)."""
    require_size(arch, minimum=0, **sizes)
    if n_sents is not None:
        require_size(arch, minimum=1, n_sents=n_sents)


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
            print(f"⚠ {where}: {reason}; line skipped", file=sys.stderr, flush=True)


def _read_raw_text_lines(path: Path) -> Iterator:
    """(line number, JSON object) per non-blank line, or (line number, reason) for a malformed one."""
    for line_no, record, error in read_jsonl_records(path):
        yield line_no, (error or (record if isinstance(record, dict) else "not a JSON object"))


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
    try:
        return nlp.make_doc(text)
    except ValueError as err:  # a lone surrogate from a "\ud800" escape
        return str(err)
