"""Shuffling a stream that does not fit in memory: `training.max_epochs = -1` reads the train
corpus lazily every epoch, so its order can only be mixed within a bounded buffer."""
import random
from typing import Iterable, Iterator, List, TypeVar

Item = TypeVar("Item")
# Examples held for shuffling a streamed corpus: the memory bound of streaming mode. Order is
# mixed only within this window (spaCy's streaming mode does not shuffle at all).
STREAM_SHUFFLE_BUFFER = 1000


def shuffled_within(items: Iterable[Item], buffer_size: int, rng: random.Random) -> Iterator[Item]:
    """`items` in an order shuffled within a window of `buffer_size`: each new item replaces a
    random one of the buffer, which is yielded; what is left is shuffled at the end. Each item
    comes out exactly once, and at most `buffer_size` are held at any time."""
    buffer: List[Item] = []
    for item in items:
        if len(buffer) < buffer_size:
            buffer.append(item)
            continue
        k = rng.randrange(buffer_size)
        yield buffer[k]
        buffer[k] = item
    rng.shuffle(buffer)
    yield from buffer
