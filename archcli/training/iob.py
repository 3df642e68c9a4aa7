"""CoNLL-style NER files: one token per line with an IOB/IOB2/BILUO tag, blank line between sentences.

Two layouts are read: `index token tag …` (UniversalNER's .iob2) and `token … tag` (CoNLL-2003).
A `# text = …` comment, when present, gives the sentence's spacing.
"""
import re
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

from ..errors import CorpusError
from ..tokens import Doc, Span, Vocab
from .corpus_files import read_lines

_TAG = re.compile(r"^(O|[BIELSU]-\S+)$")


def tags_to_spans(tags: List[str], where: List[str], *, iob2: bool = False) -> List[Tuple[int, int, str]]:
    """Entity spans from IOB1/IOB2/BILUO(BIOES) tags.

    With `iob2=False` an I- that cannot continue an entity starts one (IOB1, as spaCy reads
    it). With `iob2=True` (`.iob2` files, LitBank) every entity starts with B-, so such an I-
    is a CorpusError naming its line: it usually means a mistagged or shifted column.
    """
    spans = []
    start: Optional[int] = None
    label = ""
    for i, tag in enumerate(tags):
        if not _TAG.match(tag):
            raise CorpusError(f"'{tag}' is not an entity tag (O, B-X, I-X, L-X/E-X, U-X/S-X)", where=where[i])
        prefix, _, tag_label = tag.partition("-")
        continues = start is not None and tag_label == label
        if iob2 and prefix in ("I", "L", "E") and not continues:
            after = f"after {tags[i - 1]}" if i else "at the start of a sentence"
            raise CorpusError(
                f"'{tag}' {after}: in IOB2 an entity starts with B-{tag_label}", where=where[i]
            )
        if prefix in ("O", "B", "U", "S") or (prefix in ("I", "L", "E") and not continues):
            if start is not None:
                spans.append((start, i, label))
                start = None
            if prefix != "O":
                start, label = i, tag_label
        if prefix in ("L", "E", "U", "S") and start is not None:
            spans.append((start, i + 1, label))
            start = None
    if start is not None:
        spans.append((start, len(tags), label))
    return spans


def _spaces_from_text(words: List[str], text: Optional[str]) -> List[bool]:
    if not text:
        return [True] * (len(words) - 1) + [False] if words else []
    spaces = []
    pos = 0
    for word in words:
        found = text.find(word, pos)
        if found < 0:
            return [True] * (len(words) - 1) + [False]
        pos = found + len(word)
        spaces.append(pos < len(text) and text[pos] == " ")
    return spaces


def read_iob(
    path: Path, vocab: Vocab, *, n_sents: int = 10, limit: int = 0, iob2: Optional[bool] = None
) -> Iterator[Tuple[Doc, int]]:
    """Yield (gold Doc with entities, first line) with `n_sents` sentences per doc.

    `iob2` (default: whether the file name ends in `.iob2`) refuses an I- that starts an entity.
    """
    if iob2 is None:
        iob2 = str(path).endswith(".iob2")
    sentences: List[Tuple[List[str], List[bool], List[str], List[str], int]] = []
    words: List[str] = []
    tags: List[str] = []
    lines: List[str] = []
    text: Optional[str] = None
    first = 0
    n_docs = 0

    def flush_sentence():
        nonlocal words, tags, lines, text
        if words:
            sentences.append((words, _spaces_from_text(words, text), tags, lines, first))
        words, tags, lines, text = [], [], [], None

    for line_no, line in read_lines(path):
        if not line.strip():
            flush_sentence()
        elif line.startswith("#"):
            if line.startswith("# text = "):
                text = line[len("# text = "):]
            continue
        else:
            cols = line.split("\t") if "\t" in line else line.split()
            if len(cols) < 2:
                raise CorpusError("expected a token and a tag separated by tabs or spaces",
                                  where=f"{path}:{line_no}")
            if not words:
                first = line_no
            if cols[0].isdigit() and len(cols) >= 3:
                word, tag = cols[1], cols[2]
            else:
                word, tag = cols[0], cols[-1]
            if not word:
                raise CorpusError("empty token", where=f"{path}:{line_no}")
            words.append(word)
            tags.append(tag)
            lines.append(f"{path}:{line_no}")
        if len(sentences) >= max(n_sents, 1):
            yield _make_doc(vocab, sentences, iob2), sentences[0][4]
            sentences = []
            n_docs += 1
            if limit and n_docs >= limit:
                return
    flush_sentence()
    if sentences:
        yield _make_doc(vocab, sentences, iob2), sentences[0][4]


def _make_doc(vocab: Vocab, sentences, iob2: bool) -> Doc:
    words: List[str] = []
    spaces: List[bool] = []
    sent_starts: List[bool] = []
    spans: List[Tuple[int, int, str]] = []
    for s_words, s_spaces, s_tags, s_lines, _ in sentences:
        offset = len(words)
        for a, b, label in tags_to_spans(s_tags, s_lines, iob2=iob2):
            spans.append((offset + a, offset + b, label))
        words.extend(s_words)
        spaces.extend(s_spaces[:-1] + [True])
        sent_starts.extend([True] + [False] * (len(s_words) - 1))
    spaces[-1] = False
    doc = Doc(vocab, words, spaces, sent_starts=sent_starts)
    doc.ents = [Span(doc, a, b, label) for a, b, label in spans]
    doc.user_data["ents_known"] = True
    return doc
