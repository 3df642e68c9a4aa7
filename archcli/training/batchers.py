"""Batchers: group examples into batches by word count or by number of sequences."""
import itertools
from typing import Any, Callable, Iterable, Iterator, List, Optional, Union

from ..registry import registry

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


@registry.batchers("spacy.batch_by_sequence.v1")
def configure_minibatch(
    size: Sizing, get_length: Optional[Callable[[Any], int]] = None
) -> Callable[[Iterable[Any]], Iterator[List[Any]]]:
    def batcher(items: Iterable[Any]) -> Iterator[List[Any]]:
        return minibatch(items, size)

    return batcher
