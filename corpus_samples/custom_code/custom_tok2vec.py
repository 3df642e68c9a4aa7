"""A user's own architecture, for `--code`: `archcli train corpus_samples/custom_code/tagger.cfg --code
corpus_samples/custom_code/custom_tok2vec.py`. It registers a tok2vec that adds one residual
feed-forward layer on top of spaCy's standard HashEmbedCNN, to show a config naming it."""
from thinc.api import Maxout, chain, residual, with_array

from archcli import registry


@registry.architectures("user.HashEmbedCNNPlusFF.v1")
def hash_embed_cnn_plus_ff(width: int, depth: int, embed_size: int, extra_pieces: int = 2):
    base = registry.architectures.get("spacy.HashEmbedCNN.v2")(
        width=width, depth=depth, embed_size=embed_size, window_size=1, maxout_pieces=3,
        subword_features=True, pretrained_vectors=None)
    model = chain(base, with_array(residual(Maxout(width, width, nP=extra_pieces, normalize=True))))
    model.set_dim("nO", width)
    return model
