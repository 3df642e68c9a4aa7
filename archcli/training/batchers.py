"""Batchers: group examples into batches by word count, by padded size or by number of sequences."""
import itertools
from typing import Any, Callable, Iterable, Iterator, List, Optional, Union

import numpy

from ..ml.checks import bad_argument, require_size
from .._registry import registry

Sizing = Union[int, Iterable[float]]


def _sizes(size: Sizing) -> Iterator[float]:
    return itertools.repeat(size) if isinstance(size, (int, float)) else iter(size)


def minibatch_by_words(
    items: Iterable[Any],
    size: Sizing,
    tolerance: float = 0.2,
    discard_oversize: bool = False,
    get_length: Optional[Callable[[Any], int]] = None,
) -> Iterator[List[Any]]:
    """Batches of about `size` words (a schedule gives a new target per batch).

    Items that would overfill the batch go to an overflow of up to `size * tolerance` words
    that starts the next batch; an item longer than the whole allowance is a batch of its own
    (or dropped with `discard_oversize`).
    """
    get_length = get_length or len
    sizes = _sizes(size)
    target = next(sizes)
    batch: List[Any] = []
    overflow: List[Any] = []
    n_batch = n_overflow = 0
    for item in items:
        n = get_length(item)
        if n > target * (1 + tolerance):
            if not discard_oversize:
                yield [item]
            continue
        if n_overflow == 0 and n_batch + n <= target:
            batch.append(item)
            n_batch += n
            continue
        if n_batch + n_overflow + n <= target * (1 + tolerance):
            overflow.append(item)
            n_overflow += n
            continue
        if batch:
            yield batch
        target = next(sizes)
        batch, n_batch = overflow, n_overflow
        overflow, n_overflow = [], 0
        if n_batch + n <= target:
            batch.append(item)
            n_batch += n
        elif n_batch + n <= target * (1 + tolerance):
            overflow.append(item)
            n_overflow += n
        else:
            if batch:
                yield batch
            target = next(sizes)
            batch, n_batch = [item], n
    batch.extend(overflow)
    if batch:
        yield batch


def minibatch(items: Iterable[Any], size: Sizing) -> Iterator[List[Any]]:
    sizes = _sizes(size)
    iterator = iter(items)
    while True:
        batch = list(itertools.islice(iterator, int(next(sizes))))
        if not batch:
            return
        yield batch


@registry.batchers("spacy.batch_by_words.v1")
def configure_minibatch_by_words(
    *,
    size: Sizing,
    tolerance: float = 0.2,
    discard_oversize: bool = False,
    get_length: Optional[Callable[[Any], int]] = None,
) -> Callable[[Iterable[Any]], Iterator[List[Any]]]:
    def batcher(items: Iterable[Any]) -> Iterator[List[Any]]:
        return minibatch_by_words(items, size, tolerance, discard_oversize, get_length)

    return batcher


def minibatch_by_padded_size(
    items: Iterable[Any],
    size: Sizing,
    buffer: int = 256,
    discard_oversize: bool = False,
    get_length: Optional[Callable[[Any], int]] = None,
) -> Iterator[List[Any]]:
    """Batches whose padded size (longest item x number of items) stays within `size`.

    Items are read `buffer` at a time and grouped by length, so similar lengths share a batch
    and little padding is wasted; an item longer than `size` on its own is a batch of its own
    (or dropped with `discard_oversize`).
    """
    get_length = get_length or len
    sizes = _sizes(size)
    for window in minibatch(items, buffer):
        target = next(sizes)
        lengths = numpy.fromiter((get_length(item) for item in window), dtype="int64", count=len(window))
        for indices in _group_by_length(lengths, target):
            if discard_oversize and len(indices) == 1 and lengths[indices[0]] > target:
                continue
            yield [window[i] for i in indices]


def _group_by_length(lengths: numpy.ndarray, max_padded: float) -> List[List[int]]:
    """Indices grouped by ascending length, each group's max length x size <= max_padded
    (a single item always forms a group); longest groups first, each in input order."""
    groups: List[List[int]] = []
    group: List[int] = []
    for i in numpy.argsort(lengths, kind="stable").tolist():
        if group and lengths[i] * (len(group) + 1) > max_padded:
            groups.append(sorted(group))
            group = []
        group.append(i)
    if group:
        groups.append(sorted(group))
    return groups[::-1]


@registry.batchers("spacy.batch_by_padded.v1")
def configure_minibatch_by_padded_size(
    *,
    size: Sizing,
    buffer: int = 256,
    discard_oversize: bool = False,
    get_length: Optional[Callable[[Any], int]] = None,
) -> Callable[[Iterable[Any]], Iterator[List[Any]]]:
    require_size("spacy.batch_by_padded.v1", buffer=buffer)  # the error names training.batcher.buffer

    def batcher(items: Iterable[Any]) -> Iterator[List[Any]]:
        return minibatch_by_padded_size(items, size, buffer, discard_oversize, get_length)

    return batcher


@registry.batchers("spacy.batch_by_sequence.v1")
def configure_minibatch(
    size: Sizing, get_length: Optional[Callable[[Any], int]] = None
) -> Callable[[Iterable[Any]], Iterator[List[Any]]]:
    """`size` sequences per batch. A sequence count has no use for lengths, and spaCy's batcher
    fails when given `get_length`, so a non-null one is refused rather than dropped."""
    if get_length is not None:
        raise bad_argument(
            "spacy.batch_by_sequence.v1", "get_length",
            "this batcher counts sequences and has no use for it; remove it, or use "
            "spacy.batch_by_words.v1 or spacy.batch_by_padded.v1, which size batches by length",
        )

    def batcher(items: Iterable[Any]) -> Iterator[List[Any]]:
        return minibatch(items, size)

    return batcher
