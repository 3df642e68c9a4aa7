"""spacy.Tagger.v2: tok2vec, then a zero-initialised softmax layer per token."""
from typing import List, Optional

from thinc.api import Model, Softmax_v2, chain, with_array, zero_init
from thinc.types import Floats2d

from .._registry import architecture_and_layer
from ..tokens import Doc
from .checks import require_size


@architecture_and_layer("spacy.Tagger.v2")
def build_tagger_model(
    tok2vec: Model[List[Doc], List[Floats2d]], nO: Optional[int] = None, normalize: bool = False
) -> Model[List[Doc], List[Floats2d]]:
    """`normalize=False` leaves inference scores unnormalised (argmax is the same, and cheaper)."""
    require_size("spacy.Tagger.v2", nO=nO, optional=True)
    output_layer = Softmax_v2(nO, tok2vec.maybe_get_dim("nO"), init_W=zero_init, normalize_outputs=normalize)
    model = chain(tok2vec, with_array(output_layer))
    model.set_ref("tok2vec", tok2vec)
    model.set_ref("softmax", output_layer)
    model.set_ref("output_layer", output_layer)
    return model


@architecture_and_layer("spacy.Tagger.v1")
def build_tagger_model_v1(
    tok2vec: Model[List[Doc], List[Floats2d]], nO: Optional[int] = None
) -> Model[List[Doc], List[Floats2d]]:
    return build_tagger_model(tok2vec, nO, normalize=True)
