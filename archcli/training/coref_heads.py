"""Head words of coreference mentions, for the word-level model's `coref_head_clusters_N`.

The word-level coreference model clusters single words, so each mention of `coref_clusters_N` is
stood for by one head word in `coref_head_clusters_N` (a one-token Span, same N). LitBank has no
parse, so the heads come from one of two sources (the reader's `heads` option):

- "rule" (no model needed): the rightmost word of the mention's first chunk. Leading punctuation
  is skipped; the chunk ends before the first preposition, relative word, coordinating
  conjunction, reflexive, "named"/"called", locative adverb ("here", "there") or punctuation
  after the mention's first word, or before a determiner or personal pronoun two or more words
  in. So "the city of London" -> city, "a man who …" -> man, "Miss Flite , the old lady" ->
  Flite, "Tom and Huck" -> Tom (UD's first-conjunct head), "the rooms the Signora promised us" ->
  rooms, but "all the men" -> men. A possessive marker does not end the chunk ("Lincoln 's Inn
  Hall" -> Hall; "'" counts as one after a word ending in s, before a word), and a mention ending
  in one has it as head ("at the doctor 's" is the doctor's house, another entity than the
  doctor). Quotes and italics underscores inside a mention, and punctuation glued to both
  neighbours ("dial-up" split as UD does), neither end the chunk nor become heads. A one-token
  mention is its own head. Computed for all mentions of a doc at once from
  per-token flags and running next/previous-index arrays.
- "parser:PATH": the syntactic head from a trained archcli pipeline with a dependency parser (e.g.
  configs/tagger_parser.cfg trained on UD EWT), run on each gold sentence: the token of the
  mention nearest the root of the tree (the one whose head lies outside the mention; the first
  such if there are several), as spaCy's Span.root.

The rule is the default: measured against the parser's heads it gives far fewer shared heads and
is as accurate (the numbers are above `DEFAULT_HEADS`).

Mentions that share a head word (two mentions of one cluster, or nested mentions of two clusters
such as "Tom and Huck" and "Tom") cannot both be told apart by a word-level model: the head
clusters keep the shortest of them (then the earliest, then the one of the earlier cluster),
since a head word most plausibly stands for the shortest mention around it, and leave the others
out, counted once per file in a reader note. The full-span clusters keep every mention, so
scoring on full spans still sees them. A head cluster whose mentions were all left out is kept,
empty, so that N still pairs head and span clusters.
"""
import hashlib
from pathlib import Path
from typing import Callable, Dict, List, Tuple, Union

import numpy

from ..errors import ArchcliError
from ..tokens import Doc, Span

# Measured (issue 13). Parser: configs/tagger_parser.cfg trained on UD EWT train, 1500 steps (EWT dev
# UAS 78.9, LAS 72.9), run on each gold sentence. LitBank train, 80 docs, 23,127 mentions (7,799 of
# more than one token):
#                                                 rule      parser
#   mentions sharing a head with another           26        320   (0.11% / 1.38%)
#   left out of the head clusters                  13        161   (of them across clusters: 13 / 150)
#   head a content word (tagger's PTB tag not a
#   determiner/preposition/conjunction/punct/POS):
#     all mentions                              99.60%     99.15%
#     multi-token mentions                      99.05%     97.72%
#   the two agree: all 95.5%, multi-token 86.7%
# Gold UD heads on EWT dev (the parser's own domain), 6,310 noun/pronoun arguments whose subtree is
# contiguous, cut as LitBank marks mentions (no leading case/cc/mark, no edge punctuation or 's):
#   multi-token (3,118) head accuracy             87.4%      86.1%
#   without names UD heads by their first word    91.2%      88.3%   (flat: "Sergey Brin" -> Sergey)
# The rule collides twelve times less, picks content words more often, and is at least as accurate
# even where the parser was trained; it needs no model. So it is the default, "parser:PATH" the option.
# (The rule's word lists were tuned looking at LitBank train mentions and EWT dev misses, so both
# sets favour it somewhat; the parser's collisions are mostly its errors on fiction, "her father" -> her.)
DEFAULT_HEADS = "rule"
CLUSTER_PREFIX = "coref_clusters"
HEAD_PREFIX = "coref_head_clusters"
HeadFinder = Callable[[Doc, numpy.ndarray, numpy.ndarray], numpy.ndarray]

PREPOSITIONS = frozenset(
    "about above across after against along amid amidst among amongst around as at before behind below "
    "beneath beside besides between beyond by despite during except for from in into like of on onto over "
    "than through throughout to toward towards under underneath until unto upon with within without".split()
)
RELATIVES = frozenset("who whom whose which that where when why whereby wherein".split())
CONJUNCTIONS = frozenset("and or nor but".split())
REFLEXIVES = frozenset("myself yourself himself herself itself oneself ourselves yourselves themselves".split())
INTRODUCERS = frozenset("named called".split())  # "a trader named Jennings"
ADVERBS = frozenset("here there downstairs upstairs yonder".split())  # "the towns here in the Northwest"
# Words that start a new noun phrase when they come two or more words into a mention: "the rooms the
# Signora promised us", "the man I saw" (one word in, they are part of it: "all the men", "half his life").
NP_STARTERS = frozenset(
    "the a an this these those every each another some my your his her its our their "
    "i me you he him she it we us they them".split()
)
POSSESSIVES = frozenset(("'s", "’s"))
APOSTROPHES = frozenset(("'", "’"))  # possessive after a plural ("the servants ' quarters"), else a quote
_QUOTES_AND_MARKUP = frozenset("\"“”‘’`'_*")
_BREAK_WORDS = PREPOSITIONS | RELATIVES | CONJUNCTIONS | REFLEXIVES | INTRODUCERS | ADVERBS


def cluster_groups(doc: Doc, prefix: str = CLUSTER_PREFIX) -> List[Tuple[int, List[Span]]]:
    """(N, mentions) of each `doc.spans[f"{prefix}_{N}"]`, in order of N."""
    start = len(prefix) + 1
    groups = [(int(key[start:]), spans) for key, spans in doc.spans.items()
              if key.startswith(prefix + "_") and key[start:].isdigit()]
    return sorted(groups, key=lambda group: group[0])


def rule_heads(doc: Doc, starts: numpy.ndarray, ends: numpy.ndarray) -> numpy.ndarray:
    """The head of each mention [start, end) by the chunk rule in the module docstring."""
    starts = numpy.asarray(starts, dtype="int64")
    ends = numpy.asarray(ends, dtype="int64")
    if not len(starts):
        return numpy.zeros((0,), dtype="int64")
    punct, breaks, late_breaks = _token_flags(doc)
    n = len(doc)
    next_word = _next_index(~punct, n)
    next_break = _next_index(breaks, n)
    next_late_break = _next_index(late_breaks, n)
    last_word = _previous_index(~punct)
    first = numpy.minimum(next_word[starts], ends - 1)  # all punctuation: the last token
    cut = numpy.minimum(numpy.minimum(next_break[first + 1], next_late_break[first + 2]), ends)
    heads = last_word[cut - 1]
    return numpy.where(heads >= first, heads, cut - 1)


def _token_flags(doc: Doc) -> Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """Per token: punctuation (never a head where a word is near), a chunk break, a word that
    breaks two words in; worked out once per distinct word of the doc, then per position."""
    unique, inverse = numpy.unique(doc.lex, return_inverse=True)
    inverse = inverse.reshape(-1)
    lower = [doc.vocab.word(int(lex)).lower() for lex in unique]

    def flag(test: Callable[[str], bool], texts: List[str] = lower) -> numpy.ndarray:
        return numpy.asarray([test(text) for text in texts], dtype="bool")[inverse]

    def shifted(values: numpy.ndarray, by: int) -> numpy.ndarray:
        """values[i - by] at i (False past the edges)."""
        out = numpy.zeros_like(values)
        if by > 0:
            out[by:] = values[:-by]
        else:
            out[:by] = values[-by:]
        return out

    punct = flag(lambda word: not any(c.isalnum() for c in word))
    possessive = flag(lambda word: word in POSSESSIVES) | (
        flag(lambda word: word in APOSTROPHES) & shifted(flag(lambda word: word.endswith("s")), 1)
        & shifted(flag(lambda word: word[:1].isalnum()), -1))
    punct &= ~possessive
    # Not breaks: quotes and markup around words ('the “ parlour ”', "_" around italics) and
    # punctuation glued to both neighbours ("dial-up" split as UD does).
    soft = punct & (flag(lambda word: set(word) <= _QUOTES_AND_MARKUP) | (~doc.spaces & shifted(~doc.spaces, 1)))
    breaks = flag(lambda word: word in _BREAK_WORDS) | (punct & ~soft)
    return punct, breaks, flag(lambda word: word in NP_STARTERS)


def _next_index(flags: numpy.ndarray, n: int) -> numpy.ndarray:
    """For i in 0..n+1, the first j >= i with flags[j] (n where there is none)."""
    index = numpy.append(numpy.where(flags, numpy.arange(n), n), (n, n))
    return numpy.minimum.accumulate(index[::-1])[::-1]


def _previous_index(flags: numpy.ndarray) -> numpy.ndarray:
    """For each i, the last j <= i with flags[j] (-1 where there is none)."""
    index = numpy.where(flags, numpy.arange(len(flags)), -1)
    return numpy.maximum.accumulate(index) if len(index) else index


def syntactic_heads(head: numpy.ndarray, starts: numpy.ndarray, ends: numpy.ndarray) -> numpy.ndarray:
    """The root of each mention in a dependency tree (`head`: absolute head index, roots point at
    themselves): the token of the mention nearest the tree's root, the first if several are."""
    starts = numpy.asarray(starts, dtype="int64")
    ends = numpy.asarray(ends, dtype="int64")
    if not len(starts):
        return numpy.zeros((0,), dtype="int64")
    n = len(head)
    depth = tree_depth(head)
    lengths = ends - starts
    offsets = numpy.cumsum(lengths) - lengths
    tokens = numpy.arange(int(lengths.sum())) - numpy.repeat(offsets - starts, lengths)
    keys = depth[tokens] * (n + 1) + tokens
    return numpy.minimum.reduceat(keys, offsets) % (n + 1)


def tree_depth(head: numpy.ndarray) -> numpy.ndarray:
    """Steps from each token to its root, by pointer doubling (log n vectorised passes)."""
    jump = numpy.asarray(head, dtype="int64")
    depth = (jump != numpy.arange(len(jump))).astype("int64")
    for _ in range(64):
        next_jump = jump[jump]
        if numpy.array_equal(next_jump, jump):
            break
        depth = depth + depth[jump]
        jump = next_jump
    return depth


class ParserHeads:
    """Mention heads from a trained pipeline's dependency parse of each gold sentence.

    The pipeline is loaded on first use; heads are kept per document text, so a corpus read
    again each epoch is parsed once.
    """

    def __init__(self, path: Union[str, Path]) -> None:
        self.path = Path(path)
        self._nlp = None
        self._parses: Dict[bytes, numpy.ndarray] = {}

    def __call__(self, doc: Doc, starts: numpy.ndarray, ends: numpy.ndarray) -> numpy.ndarray:
        return syntactic_heads(self.parse(doc), starts, ends)

    def parse(self, doc: Doc) -> numpy.ndarray:
        """The absolute head index of each token of `doc`, one parse per gold sentence."""
        key = hashlib.sha1("\n".join(doc.words).encode("utf8") + doc.sent_start.tobytes()).digest()
        if key not in self._parses:
            self._parses[key] = self._parse(doc)
        return self._parses[key]

    def _parse(self, doc: Doc) -> numpy.ndarray:
        nlp = self._pipeline()
        sents = doc.sents
        words = doc.words
        parsed = nlp.pipe([Doc(nlp.vocab, words[sent.start : sent.end]) for sent in sents])
        heads = numpy.arange(len(doc), dtype="int64")
        for sent, part in zip(sents, parsed):
            if len(part) > 1 and not part.dep.any():
                raise ArchcliError("the pipeline wrote no dependency parse (has it a trained parser?)",
                                   where=str(self.path))
            heads[sent.start : sent.end] = part.head + sent.start
        return heads

    def _pipeline(self):
        if self._nlp is None:
            from ..language import load

            self._nlp = load(self.path)
        return self._nlp


_PARSERS: Dict[str, ParserHeads] = {}


def heads_option_problem(spec: str) -> str:
    """Why `spec` is not a usable `heads` option ("" when it is)."""
    if spec == "rule":
        return ""
    if isinstance(spec, str) and spec.startswith("parser:"):
        path = spec[len("parser:"):]
        if not path:
            return 'expected "parser:PATH" with the path of a trained pipeline that has a parser'
        if not Path(path).is_dir():
            return f"{path!r} is not a pipeline directory"
        return ""
    return f'must be "rule" or "parser:PATH" (a trained pipeline with a parser), not {spec!r}'


def head_finder(spec: str) -> HeadFinder:
    """The head function a `heads` option names; one ParserHeads per pipeline path."""
    problem = heads_option_problem(spec)
    if problem:
        raise ArchcliError(f"heads: {problem}")
    if spec == "rule":
        return rule_heads
    path = spec[len("parser:"):]
    if path not in _PARSERS:
        _PARSERS[path] = ParserHeads(path)
    return _PARSERS[path]


def add_head_clusters(doc: Doc, find_heads: HeadFinder = rule_heads, *, prefix: str = CLUSTER_PREFIX,
                      head_prefix: str = HEAD_PREFIX) -> int:
    """Write `doc.spans[f"{head_prefix}_{N}"]` for each full-span cluster N; return how many
    mentions were left out because another mention has the same head (see the module docstring)."""
    groups = cluster_groups(doc, prefix)
    for key in [key for key in doc.spans if key.startswith(head_prefix + "_")]:
        del doc.spans[key]
    sizes = [len(spans) for _, spans in groups]
    starts = numpy.asarray([span.start for _, spans in groups for span in spans], dtype="int64")
    ends = numpy.asarray([span.end for _, spans in groups for span in spans], dtype="int64")
    heads = numpy.asarray(find_heads(doc, starts, ends), dtype="int64")
    keep = first_per_head(heads, ends - starts, starts, numpy.repeat(numpy.arange(len(groups)), sizes))
    offset = 0
    for (n, _), size in zip(groups, sizes):
        kept = heads[offset : offset + size][keep[offset : offset + size]]
        doc.spans[f"{head_prefix}_{n}"] = [Span(doc, h, h + 1) for h in kept.tolist()]
        offset += size
    return int(len(keep) - keep.sum())


def first_per_head(heads: numpy.ndarray, *order_keys: numpy.ndarray) -> numpy.ndarray:
    """Mask keeping, of the mentions sharing a head, the first by `order_keys` (compared in turn)."""
    if not len(heads):
        return numpy.zeros((0,), dtype="bool")
    order = numpy.lexsort(tuple(reversed(order_keys)) + (heads,))
    sorted_heads = heads[order]
    first = numpy.ones((len(heads),), dtype="bool")
    first[1:] = sorted_heads[1:] != sorted_heads[:-1]
    keep = numpy.zeros((len(heads),), dtype="bool")
    keep[order[first]] = True
    return keep
