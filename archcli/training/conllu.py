"""CoNLL-U: syntactic words with SpaceAfter, UPOS→pos, XPOS→tag, heads, deprels, sentences."""
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

from ..errors import CorpusError
from ..tokens import Doc, Vocab
from .corpus_files import read_lines

_Sentence = Tuple[List[str], List[bool], List[str], List[str], List[int], List[str], List[str], int]


def read_conllu_sentences(path: Path) -> Iterator[_Sentence]:
    """Yield (words, spaces, tags, pos, heads, deps, lemmas, first_line) per sentence.

    Multi-word token ranges (`1-2`) and empty nodes (`1.1`) are skipped: the syntactic words
    are the tokens. Heads are 0-based within the sentence; the root points at itself.
    """
    words: List[str] = []
    spaces: List[bool] = []
    tags: List[str] = []
    pos: List[str] = []
    heads: List[int] = []
    deps: List[str] = []
    lemmas: List[str] = []
    head_lines: List[int] = []
    first_line = 0
    mwt_end = -1
    mwt_space = True

    def finish() -> _Sentence:
        n = len(words)
        for i, (head, line_no) in enumerate(zip(heads, head_lines)):
            if head < 0 or head > n:
                raise CorpusError(f"head {head} is out of range for a sentence of {n} words", where=f"{path}:{line_no}")
        roots = [i for i, h in enumerate(heads) if h == 0]
        if any(deps) and len(roots) != 1:
            raise CorpusError(f"sentence has {len(roots)} roots (HEAD 0); a tree needs exactly one",
                              where=f"{path}:{first_line}")
        if any(deps) and _has_cycle([h - 1 if h > 0 else i for i, h in enumerate(heads)]):
            raise CorpusError("the heads of this sentence form a cycle", where=f"{path}:{first_line}")
        sentence = (list(words), list(spaces), list(tags), list(pos),
                    [h - 1 if h > 0 else i for i, h in enumerate(heads)], list(deps), list(lemmas), first_line)
        for buf in (words, spaces, tags, pos, heads, deps, lemmas, head_lines):
            buf.clear()
        return sentence

    for line_no, line in read_lines(path):
        if not line.strip():
            if words:
                yield finish()
            # A multi-word token range never reaches into the next sentence.
            mwt_end, mwt_space = -1, True
            continue
        if line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) != 10:
            raise CorpusError(
                f"expected 10 tab-separated columns, found {len(cols)}", where=f"{path}:{line_no}"
            )
        token_id = cols[0]
        if not words:
            first_line = line_no
        if "-" in token_id:
            # Multi-word token: its SpaceAfter applies to its last syntactic word.
            try:
                mwt_end = int(token_id.split("-")[1])
            except ValueError:
                raise CorpusError(f"bad token range '{token_id}'", where=f"{path}:{line_no}")
            mwt_space = "SpaceAfter=No" not in cols[9]
            continue
        if "." in token_id:
            continue
        if not token_id.isdigit() or int(token_id) != len(words) + 1:
            raise CorpusError(
                f"token id '{token_id}' should be {len(words) + 1}", where=f"{path}:{line_no}"
            )
        try:
            head = int(cols[6]) if cols[6] != "_" else 0
        except ValueError:
            raise CorpusError(f"head '{cols[6]}' is not a number", where=f"{path}:{line_no}")
        if not cols[1]:
            raise CorpusError("empty FORM (column 2)", where=f"{path}:{line_no}")
        index = int(token_id)
        if index < mwt_end:
            space = False
        elif index == mwt_end:
            space = mwt_space
        else:
            space = "SpaceAfter=No" not in cols[9]
        words.append(cols[1])
        spaces.append(space)
        lemmas.append(cols[2] if cols[2] != "_" or cols[1] == "_" else "")
        pos.append(cols[3] if cols[3] != "_" else "")
        tags.append(cols[4] if cols[4] != "_" else "")
        heads.append(head)
        head_lines.append(line_no)
        deps.append(cols[7] if cols[7] != "_" else "")
    if words:
        yield finish()


def _has_cycle(heads: List[int]) -> bool:
    """True if following heads from some token never reaches a root (a token heading itself)."""
    state = [0] * len(heads)  # 0 unvisited, 1 on the current path, 2 reaches a root
    for start in range(len(heads)):
        path = []
        node = start
        while state[node] == 0 and heads[node] != node:
            state[node] = 1
            path.append(node)
            node = heads[node]
        if state[node] == 1:
            return True
        for visited in path:
            state[visited] = 2
        state[node] = 2
    return False


def read_conllu(
    path: Path, vocab: Vocab, *, n_sents: int = 10, tag_source: str = "xpos", limit: int = 0
) -> Iterator[Tuple[Doc, int]]:
    """Yield (gold Doc, first line) grouping `n_sents` sentences per doc.

    `tag_source="upos"` puts the UPOS column into `tag` as well (for UPOS taggers).
    """
    if tag_source not in ("xpos", "upos"):
        raise CorpusError(f"tag_source must be 'xpos' or 'upos', not '{tag_source}'")
    group: List[_Sentence] = []
    n_docs = 0
    for sentence in read_conllu_sentences(path):
        group.append(sentence)
        if len(group) >= max(n_sents, 1):
            yield _make_doc(vocab, group, tag_source), group[0][7]
            group = []
            n_docs += 1
            if limit and n_docs >= limit:
                return
    if group:
        yield _make_doc(vocab, group, tag_source), group[0][7]


def _make_doc(vocab: Vocab, sentences: List[_Sentence], tag_source: str) -> Doc:
    words: List[str] = []
    spaces: List[bool] = []
    tags: List[str] = []
    pos: List[str] = []
    heads: List[int] = []
    deps: List[str] = []
    lemmas: List[str] = []
    sent_starts: List[Optional[bool]] = []
    for s_words, s_spaces, s_tags, s_pos, s_heads, s_deps, s_lemmas, _ in sentences:
        offset = len(words)
        if spaces:
            # Sentences joined into one doc are separated by a space, as spaCy's converter does.
            spaces[-1] = True
        words.extend(s_words)
        spaces.extend(s_spaces)
        tags.extend(s_pos if tag_source == "upos" else s_tags)
        pos.extend(s_pos)
        heads.extend(h + offset for h in s_heads)
        deps.extend("ROOT" if dep == "root" else dep for dep in s_deps)
        lemmas.extend(s_lemmas)
        sent_starts.extend([True] + [False] * (len(s_words) - 1))

    return Doc(vocab, words, spaces, tags=tags, pos=pos, heads=heads, deps=deps, lemmas=lemmas,
               sent_starts=sent_starts)
