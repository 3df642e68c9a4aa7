"""CoNLL-2012 coreference files (OntoNotes, LitBank): one Doc per document, chains as span groups.

A file holds documents, each `#begin document (NAME); part P` … `#end document`, one token per line
(tab-separated, or whitespace-aligned as in OntoNotes): document name, part, word number, word, any
further columns, and last the coreference column. A blank line ends a sentence. The coreference
column is `-`, `_` or empty for no mention, else `|`-separated items: `(N` opens a mention of chain
N, `N)` closes the most recently opened mention of chain N, `(N)` is a one-token mention; items
are applied left to right (as the reference scorer reads them), so mentions nest.

What the reader gives each document:
- gold words (a space after each but the last) and sentence starts from the blank lines;
- `doc.spans["coref_clusters_N"]`, N = 1, 2, … : one list of Spans (label "") per chain, the
  mentions sorted by (start, end), the chains ordered by their first mention (its start, then its
  end); singleton chains are kept (the coreference scorers leave them out by default). A mention
  written twice in one chain is kept once (counted in a note);
- `doc.spans["coref_head_clusters_N"]`: the head word of each mention, see `coref_heads.py`;
- `doc.user_data["coref_chain_ids"]`: the chain id of cluster N at index N-1, as written in the
  file (a string), and `"coref_document"`/`"coref_part"` from the `#begin document` line.

Every malformed line is one CorpusError naming FILE:LINE. A document without tokens is skipped and
counted in a note. Reading is one pass over the lines, with a stack of open mentions per chain.
"""
import re
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple, Union

from ..errors import CorpusError
from ..tokens import Doc, Span, Vocab
from ..tokens.example import Example
from .coref_heads import CLUSTER_PREFIX, DEFAULT_HEADS, add_head_clusters, head_finder
from .corpus_files import read_lines, walk_corpus
from .offsets import note_once

MIN_FIELDS = 5  # document, part, word number, word, coreference
_BEGIN = re.compile(r"^#begin document\s*(?:\((?P<name>.*)\)\s*;?\s*(?:part\s+(?P<part>\S+))?|(?P<rest>.*))\s*$")
_ITEM = re.compile(r"^(\()?([0-9]+)(\))?$")
_NO_MENTION = ("", "-", "_")
_FORM = "is not one of '(N', 'N)', '(N)' (N a chain number), or '-' for none"
Mention = Tuple[str, int, int]  # chain id, start token, end token (exclusive)


class _Document:
    """A document being read: its tokens, sentence starts and the mentions found so far."""

    def __init__(self, name: str, part: str, line_no: int) -> None:
        self.name = name
        self.part = part
        self.line_no = line_no
        self.n_fields = 0
        self.fields_line = 0
        self.words: List[str] = []
        self.sent_starts: List[bool] = []
        self.new_sentence = True
        self.open: Dict[str, List[Tuple[int, int]]] = {}  # chain id -> stack of (start token, line)
        self.mentions: List[Mention] = []

    def add_token(self, fields: List[str], where: str, line_no: int) -> None:
        if not self.n_fields:
            self.n_fields, self.fields_line = len(fields), line_no
        elif len(fields) != self.n_fields:
            raise CorpusError(f"{len(fields)} fields, but this document's first token line ({self.fields_line}) "
                              f"has {self.n_fields}", where=where)
        word = fields[3].strip()
        if not word:
            raise CorpusError("empty word (the 4th field)", where=where)
        i = len(self.words)
        self.words.append(word)
        self.sent_starts.append(self.new_sentence)
        self.new_sentence = False
        column = fields[-1].strip()
        if column not in _NO_MENTION:
            for item in column.split("|"):
                self._add_item(item, i, where, line_no)

    def _add_item(self, item: str, i: int, where: str, line_no: int) -> None:
        match = _ITEM.match(item)
        if match is None or not (match.group(1) or match.group(3)):
            raise CorpusError(f"{item!r} in the coreference column {_FORM}", where=where)
        opens, chain, closes = match.groups()
        if opens and closes:
            self.mentions.append((chain, i, i + 1))
        elif opens:
            self.open.setdefault(chain, []).append((i, line_no))
        else:
            stack = self.open.get(chain)
            if not stack:
                raise CorpusError(f"{item!r} closes a mention of chain {chain}, but none is open", where=where)
            start, _ = stack.pop()
            self.mentions.append((chain, start, i + 1))

    def check_closed(self, path: Path, end_line: int) -> None:
        """A mention still open when its document ends is an error at the line that opened it."""
        unclosed = [(line_no, chain) for chain, stack in self.open.items() for _, line_no in stack]
        if unclosed:
            line_no, chain = min(unclosed)
            raise CorpusError(f"a mention of chain {chain} opens here but is never closed (its document ends "
                              f"on line {end_line})", where=f"{path}:{line_no}")


class FileCounts:
    """What the reader left out of one file, said once at its end (never in silence)."""

    def __init__(self) -> None:
        self.empty_docs = 0
        self.repeated_mentions = 0
        self.shared_heads = 0

    def note(self, path: Path) -> None:
        if self.empty_docs:
            note_once(path, f"{self.empty_docs} document(s) without tokens skipped")
        if self.repeated_mentions:
            note_once(path, f"{self.repeated_mentions} mention(s) written twice in the same chain kept once")
        if self.shared_heads:
            note_once(path, f"{self.shared_heads} mention(s) left out of the head clusters because a shorter "
                            "mention has the same head word (full-span clusters keep every mention)")


def read_conll2012(
    path: Union[str, Path], vocab: Vocab, *, heads: Union[str, Callable] = DEFAULT_HEADS
) -> Iterator[Tuple[Doc, int]]:
    """Yield (gold Doc with coreference span groups, line of its `#begin document`).

    `heads` is "rule", "parser:PATH" (see coref_heads.py) or a function (doc, starts, ends) -> the
    head token of each mention.
    """
    path = Path(path)
    find_heads = head_finder(heads) if isinstance(heads, str) else heads
    counts = FileCounts()
    try:
        for document in _documents(path):
            if not document.words:
                counts.empty_docs += 1
                continue
            doc = _make_doc(document, vocab, counts)
            counts.shared_heads += add_head_clusters(doc, find_heads)
            yield doc, document.line_no
    except GeneratorExit:  # a reader `limit` stopped early: still say what was left out so far
        counts.note(path)
        raise
    counts.note(path)


def _documents(path: Path) -> Iterator[_Document]:
    """Each `#begin document` … `#end document` block, with its mentions checked."""
    document: Optional[_Document] = None
    for line_no, line in read_lines(path):
        where = f"{path}:{line_no}"
        stripped = line.strip()
        if stripped.startswith("#begin document"):
            if document is not None:
                raise CorpusError(f"'#begin document' inside the document begun on line {document.line_no} "
                                  "(is its '#end document' missing?)", where=where)
            document = _begin(stripped, line_no)
        elif stripped.startswith("#end document"):
            if document is None:
                raise CorpusError("'#end document' without a '#begin document' before it", where=where)
            document.check_closed(path, line_no)
            yield document
            document = None
        elif stripped.startswith("#"):
            raise CorpusError(f"unknown directive {stripped[:40]!r} (expected '#begin document (NAME); part P' "
                              "or '#end document')", where=where)
        elif not stripped:
            if document is not None:
                document.new_sentence = True
        elif document is None:
            raise CorpusError("token line outside a '#begin document' … '#end document' block", where=where)
        else:
            fields = line.split("\t") if "\t" in line else line.split()
            if len(fields) < MIN_FIELDS:
                raise CorpusError(f"expected at least {MIN_FIELDS} fields (document, part, word number, word, …, "
                                  f"coreference), got {len(fields)}: {line[:80]!r}", where=where)
            document.add_token(fields, where, line_no)
    if document is not None:
        raise CorpusError("this document has no '#end document' before the file ends",
                          where=f"{path}:{document.line_no}")


def _begin(line: str, line_no: int) -> _Document:
    match = _BEGIN.match(line)
    name = (match.group("name") if match.group("name") is not None else match.group("rest") or "").strip()
    return _Document(name, match.group("part") or "", line_no)


def _make_doc(document: _Document, vocab: Vocab, counts: FileCounts) -> Doc:
    doc = Doc(vocab, document.words, sent_starts=document.sent_starts)
    chains: Dict[str, List[Tuple[int, int]]] = {}
    for chain, start, end in document.mentions:
        chains.setdefault(chain, []).append((start, end))
    clusters = []
    for chain, bounds in chains.items():
        unique = sorted(set(bounds))
        counts.repeated_mentions += len(bounds) - len(unique)
        clusters.append((unique[0], chain, unique))
    clusters.sort(key=lambda cluster: cluster[0])
    for n, (_, _, bounds) in enumerate(clusters, 1):
        doc.spans[f"{CLUSTER_PREFIX}_{n}"] = [Span(doc, start, end) for start, end in bounds]
    doc.user_data["coref_chain_ids"] = [chain for _, chain, _ in clusters]
    doc.user_data["coref_document"] = document.name
    doc.user_data["coref_part"] = document.part
    return doc


class Conll2012Corpus:
    """Gold examples from CoNLL-2012 `.conll` files (a file, or a directory read in sorted order)."""

    def __init__(self, path, *, limit: int = 0, heads: str = DEFAULT_HEADS) -> None:
        self.path = path
        self.limit = limit
        self.heads = heads

    def __call__(self, nlp) -> Iterator[Example]:
        n_yielded = 0
        for path in walk_corpus(self.path, (".conll",)):
            for doc, line in read_conll2012(path, nlp.vocab, heads=self.heads):
                yield Example.from_gold(doc, source=f"{path}:{line}")
                n_yielded += 1
                if self.limit and n_yielded >= self.limit:
                    return
        if n_yielded == 0:
            raise CorpusError("the corpus holds no documents", where=str(self.path))
