"""Which wordpieces make up each token, from the two tokenisations' character offsets.

A token gets every wordpiece whose characters overlap its own; special tokens and empty
pieces align to nothing; a token no wordpiece overlaps (whitespace, or past a truncated
window) gets none, and pooling gives it a zero vector. All array operations: linear in the
number of wordpieces and tokens.
"""
from typing import Tuple

import numpy


def align_wordpieces(token_starts: numpy.ndarray, token_ends: numpy.ndarray, piece_starts: numpy.ndarray,
                     piece_ends: numpy.ndarray) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """(token index, piece index) pairs of every overlapping token and wordpiece.

    Tokens must be sorted and non-overlapping (a doc's tokens are); pieces are [start, end)
    character ranges on the same text, and an empty piece (start == end) overlaps nothing.
    """
    token_starts = numpy.asarray(token_starts, dtype="int64")
    token_ends = numpy.asarray(token_ends, dtype="int64")
    piece_starts = numpy.asarray(piece_starts, dtype="int64")
    piece_ends = numpy.asarray(piece_ends, dtype="int64")
    # First token ending after the piece starts; last token starting before the piece ends.
    first = numpy.searchsorted(token_ends, piece_starts, side="right")
    last = numpy.searchsorted(token_starts, piece_ends, side="left") - 1
    counts = numpy.where(piece_ends > piece_starts, numpy.maximum(last - first + 1, 0), 0)
    pieces = numpy.repeat(numpy.arange(len(piece_starts)), counts)
    # Token index for each pair: the piece's first token plus its rank among that piece's pairs.
    pair_starts = numpy.cumsum(counts) - counts
    ranks = numpy.arange(int(counts.sum())) - numpy.repeat(pair_starts, counts)
    tokens = numpy.repeat(first, counts) + ranks
    # Empty tokens (zero characters) overlap nothing, even when a piece spans their position.
    keep = token_ends[tokens] > token_starts[tokens] if len(tokens) else numpy.zeros((0,), dtype=bool)
    return tokens[keep], pieces[keep]


def group_by_token(tokens: numpy.ndarray, pieces: numpy.ndarray, n_tokens: int) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """The pairs as a ragged table: piece indices ordered by token, and the number per token."""
    order = numpy.argsort(tokens, kind="stable")
    lengths = numpy.bincount(tokens, minlength=n_tokens).astype("int32")
    return pieces[order].astype("int32"), lengths
