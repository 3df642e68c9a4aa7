"""The span getters of spacy-transformers: how a batch of docs is cut into transformer windows.

Each returns one list of spans per doc. Windows may overlap (strided) or follow the sentences;
the transformer sees each span separately, and a token in two windows pools both windows'
wordpieces.
"""
from typing import Callable, List

from .._registry import registry
from ..tokens import Doc
from ..tokens.doc import Span
from .checks import bad_argument, require_size

SpanGetter = Callable[[List[Doc]], List[List[Span]]]


def strided_windows(length: int, window: int, stride: int) -> List[tuple]:
    """(start, end) token windows of `window` tokens every `stride` tokens, as spacy-transformers
    cuts them: the last window ends at the doc's end, and a doc shorter than a stride is one window."""
    windows = []
    start = 0
    for _ in range(length // stride):
        windows.append((start, min(start + window, length)))
        if start + window >= length:
            return windows
        start += stride
    if start < length:
        windows.append((start, length))
    return windows


@registry.span_getters("spacy-transformers.strided_spans.v1")
def configure_strided_spans(window: int, stride: int) -> SpanGetter:
    """Overlapping windows: with window 128, stride 96, each token after the first 96 is seen twice."""
    require_size("spacy-transformers.strided_spans.v1", window=window, stride=stride)
    if stride > window:
        raise bad_argument("spacy-transformers.strided_spans.v1", "stride", f"{stride} is larger than the window ({window}), so the tokens "
                           "between windows would get no transformer output")

    def get_strided_spans(docs: List[Doc]) -> List[List[Span]]:
        return [[doc[start:end] for start, end in strided_windows(len(doc), window, stride)] for doc in docs]

    get_strided_spans.window = window  # type: ignore[attr-defined]
    get_strided_spans.stride = stride  # type: ignore[attr-defined]
    return get_strided_spans


@registry.span_getters("spacy-transformers.sent_spans.v1")
def configure_get_sent_spans() -> SpanGetter:
    """One window per sentence (needs sentence boundaries; a doc without them is one sentence)."""

    def get_sent_spans(docs: List[Doc]) -> List[List[Span]]:
        return [list(doc.sents) for doc in docs]

    return get_sent_spans


@registry.span_getters("spacy-transformers.doc_spans.v1")
def configure_get_doc_spans() -> SpanGetter:
    """The whole doc as one window (truncated at the model's maximum length)."""

    def get_doc_spans(docs: List[Doc]) -> List[List[Span]]:
        return [[doc[0 : len(doc)]] if len(doc) else [] for doc in docs]

    return get_doc_spans
