"""LitBank entity files: nested spans, one IOB2 column per nesting layer, into doc.spans[key].

Each line is `token<TAB>layer1<TAB>layer2<TAB>layer3<TAB>layer4` (then up to two empty fields);
a blank line ends a sentence. Layer 1 is the outermost entity, so "the house of Tom Sawyer" is a
FAC span in layer 1 and a PER span in layer 2. Spans of every layer go into one group (nested and
overlapping); a span repeated in two layers with the same label is kept once. `n_sents`
sentences make one doc, with sentence starts marked.
"""
import re
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Tuple, Union

from ..errors import CorpusError
from .._registry import registry
from ..tokens import Doc, Span, Vocab
from ..tokens.example import Example
from .corpus_files import read_lines, walk_corpus
from .iob import tags_to_spans

N_LAYERS = 4
_IOB2 = re.compile(r"^(O|[BI]-\S+)$")
_valid_tags = {"O"}
Sentence = Tuple[List[str], List[List[str]], List[str], int]  # words, tags per layer, where per token, first line


def _sentences(path: Path, n_layers: int) -> Iterator[Sentence]:
    words: List[str] = []
    layers: List[List[str]] = [[] for _ in range(n_layers)]
    wheres: List[str] = []
    first = 0
    for line_no, line in read_lines(path):
        if not line.strip():
            if words:
                yield words, layers, wheres, first
            words, layers, wheres = [], [[] for _ in range(n_layers)], []
            continue
        fields = line.split("\t")
        if len(fields) < 1 + n_layers or not fields[0]:
            raise CorpusError(
                f"expected a token and {n_layers} IOB2 tag columns separated by tabs, got "
                f"{len(fields)} field(s): {line[:80]!r}", where=f"{path}:{line_no}")
        if not words:
            first = line_no
        words.append(fields[0])
        for layer, tag in zip(layers, fields[1 : 1 + n_layers]):
            layer.append(tag.strip())
        wheres.append(f"{path}:{line_no}")
    if words:
        yield words, layers, wheres, first


def read_litbank(
    path: Union[str, Path], vocab: Vocab, *, spans_key: str = "sc", n_sents: int = 10, n_layers: int = N_LAYERS
) -> Iterator[Tuple[Doc, int]]:
    """Yield (gold Doc with doc.spans[spans_key], first line number), `n_sents` sentences per doc."""
    path = Path(path)
    batch: List[Sentence] = []
    for sentence in _sentences(path, n_layers):
        batch.append(sentence)
        if len(batch) >= max(n_sents, 1):
            yield _make_doc(batch, vocab, spans_key), batch[0][3]
            batch = []
    if batch:
        yield _make_doc(batch, vocab, spans_key), batch[0][3]


def _make_doc(sentences: List[Sentence], vocab: Vocab, spans_key: str) -> Doc:
    words: List[str] = []
    sent_starts: List[bool] = []
    found = {}
    for sent_words, layers, wheres, _ in sentences:
        offset = len(words)
        words.extend(sent_words)
        sent_starts.extend([True] + [False] * (len(sent_words) - 1))
        for tags in layers:
            for i, tag in enumerate(tags):
                if tag not in _valid_tags:
                    if not _IOB2.match(tag):
                        raise CorpusError(f"'{tag}' is not an IOB2 tag (O, B-X or I-X)", where=wheres[i])
                    _valid_tags.add(tag)
            for start, end, label in tags_to_spans(tags, wheres, iob2=True):
                found[(offset + start, offset + end, label)] = None
    doc = Doc(vocab, words, sent_starts=sent_starts)
    doc.spans[spans_key] = [Span(doc, start, end, label) for start, end, label in found]
    return doc


class LitBankCorpus:
    """Gold examples from LitBank entity `.tsv` files (a file or a directory of them)."""

    def __init__(self, path, *, spans_key: str = "sc", n_sents: int = 10, max_length: int = 0, limit: int = 0) -> None:
        self.path = path
        self.spans_key = spans_key
        self.n_sents = n_sents
        self.max_length = max_length
        self.limit = limit

    def __call__(self, nlp) -> Iterator[Example]:
        n_yielded = 0
        for path in walk_corpus(self.path, (".tsv",)):
            for doc, line in read_litbank(path, nlp.vocab, spans_key=self.spans_key, n_sents=self.n_sents):
                if self.max_length and len(doc) > self.max_length:
                    continue
                yield Example.from_gold(doc, source=f"{path}:{line}")
                n_yielded += 1
                if self.limit and n_yielded >= self.limit:
                    return
        if n_yielded == 0:
            raise CorpusError("the corpus holds no documents", where=str(self.path))


@registry.readers("archcli.LitBankCorpus.v1")
def create_litbank_reader(
    path: Optional[str], spans_key: str = "sc", n_sents: int = 10, max_length: int = 0, limit: int = 0
) -> Callable[..., Iterator[Example]]:
    """LitBank entities (`.tsv`, 4 nested IOB2 layers) as span groups under `spans_key`."""
    return LitBankCorpus(path, spans_key=spans_key, n_sents=n_sents, max_length=max_length, limit=limit)
