"""spacy.FeatureExtractor.v1: token attributes of a batch of docs as uint64 arrays."""
from typing import Callable, List, Sequence, Tuple, Union

import numpy
from thinc.api import Model
from thinc.types import Ints2d

from .._registry import architecture_and_layer
from ..tokens import Doc
from ..tokens.attrs import LEX_COLUMN, intify_attr


@architecture_and_layer("spacy.FeatureExtractor.v1")
def FeatureExtractor(columns: Sequence[Union[int, str]]) -> Model[List[Doc], List[Ints2d]]:
    """Extract the given attributes for every token; lexical ones come from the vocab table."""
    attr_ids = [intify_attr(c) for c in columns]
    return Model("extract_features", forward, attrs={"columns": attr_ids})


def extract_features(docs: Sequence[Doc], attr_ids: Sequence[int]) -> List[numpy.ndarray]:
    """Per-doc (n_tokens, n_columns) uint64 arrays, gathered with one take when possible."""
    if not docs:
        return []
    if all(attr in LEX_COLUMN for attr in attr_ids):
        vocab = docs[0].vocab
        lex = numpy.concatenate([doc.lex for doc in docs])
        cols = numpy.asarray([LEX_COLUMN[a] for a in attr_ids], dtype="int64")
        features = vocab.lex_attrs[lex[:, None], cols[None, :]]
        boundaries = numpy.cumsum([len(doc) for doc in docs])[:-1]
        return numpy.split(features, boundaries)
    return [doc.to_array(attr_ids) for doc in docs]


def forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[List[Ints2d], Callable]:
    features = extract_features(docs, model.attrs["columns"])
    output = [model.ops.asarray(f, dtype="uint64") for f in features]
    return output, lambda d_features: []
