"""The Tok2Vec family: embedding layers, context encoders and the models that chain them."""
from typing import List, Optional, Union, cast

from thinc.api import (
    HashEmbed, Maxout, Mish, Model, chain, clone, concatenate, expand_window,
    list2ragged, noop, ragged2list, residual, with_array, with_padded,
)
from thinc.types import Floats2d, Ints2d, Ragged

from .._registry import architecture_and_layer
from ..tokens import Doc
from ..tokens.attrs import intify_attr
from .charembed import CharacterEmbedLayer
from .checks import bad_argument, require_size
from .featureextractor import FeatureExtractor
from .staticvectors import StaticVectors


@architecture_and_layer("spacy.Tok2Vec.v2")
def Tok2Vec(
    embed: Model[List[Doc], List[Floats2d]], encode: Model[List[Floats2d], List[Floats2d]]
) -> Model[List[Doc], List[Floats2d]]:
    """Embed each token, then encode context; exposes `embed` and `encode` as refs."""
    tok2vec = chain(embed, encode)
    width = encode.maybe_get_dim("nO")
    if width is not None:
        tok2vec.set_dim("nO", width)
    tok2vec.set_ref("embed", embed)
    tok2vec.set_ref("encode", encode)
    return tok2vec


architecture_and_layer("spacy.Tok2Vec.v1")(Tok2Vec)


@architecture_and_layer("spacy.HashEmbedCNN.v2")
def HashEmbedCNN(
    *,
    width: int,
    depth: int,
    embed_size: int,
    window_size: int,
    maxout_pieces: int,
    subword_features: bool,
    pretrained_vectors: Optional[bool],
) -> Model[List[Doc], List[Floats2d]]:
    """spaCy's standard tok2vec: MultiHashEmbed over NORM (+PREFIX/SUFFIX/SHAPE) and a CNN."""
    require_size("spacy.HashEmbedCNN.v2", width=width, depth=depth, maxout_pieces=maxout_pieces)
    require_size("spacy.HashEmbedCNN.v2", embed_size=embed_size, minimum=2 if subword_features else 1)
    require_size("spacy.HashEmbedCNN.v2", window_size=window_size, minimum=0)
    if subword_features:
        attrs = ["NORM", "PREFIX", "SUFFIX", "SHAPE"]
        rows = [embed_size, embed_size // 2, embed_size // 2, embed_size // 2]
    else:
        attrs = ["NORM"]
        rows = [embed_size]
    embed = MultiHashEmbed(width=width, attrs=attrs, rows=rows, include_static_vectors=bool(pretrained_vectors))
    if maxout_pieces == 1:
        encode = MishWindowEncoder(width=width, window_size=window_size, depth=depth)
    else:
        encode = MaxoutWindowEncoder(width=width, window_size=window_size, maxout_pieces=maxout_pieces, depth=depth)
    return Tok2Vec(embed=embed, encode=encode)


architecture_and_layer("spacy.HashEmbedCNN.v1")(HashEmbedCNN)


@architecture_and_layer("spacy.MultiHashEmbed.v2")
def MultiHashEmbed(
    width: int,
    attrs: List[Union[int, str]],
    rows: List[int],
    include_static_vectors: bool,
) -> Model[List[Doc], List[Floats2d]]:
    """One hash-embedding table per attribute (+ projected static vectors), mixed by a Maxout."""
    require_size("spacy.MultiHashEmbed.v2", width=width)
    if len(rows) != len(attrs):
        raise bad_argument("spacy.MultiHashEmbed.v2", "rows",
                           f"{len(attrs)} attrs but {len(rows)} rows; give one row count per attr")
    for i, n_rows in enumerate(rows):
        require_size("spacy.MultiHashEmbed.v2", **{f"rows[{i}]": n_rows})
    columns = [intify_attr(attr) for attr in attrs]
    embeddings = [
        HashEmbed(width, n_rows, column=i, seed=8 + i, dropout=0.0) for i, n_rows in enumerate(rows)
    ]
    concat_size = width * (len(embeddings) + int(include_static_vectors))
    mix = with_array(Maxout(width, concat_size, nP=3, dropout=0.0, normalize=True))
    hashed = chain(
        FeatureExtractor(columns),
        cast(Model[List[Ints2d], Ragged], list2ragged()),
        with_array(concatenate(*embeddings)),
    )
    if include_static_vectors:
        model = chain(concatenate(hashed, StaticVectors(width, dropout=0.0)), mix, ragged2list())
    else:
        model = chain(hashed, mix, ragged2list())
    model.set_dim("nO", width)
    return model


@architecture_and_layer("spacy.MultiHashEmbed.v1")
def MultiHashEmbed_v1(
    width: int, attrs: List[Union[int, str]], rows: List[int], include_static_vectors: bool
) -> Model[List[Doc], List[Floats2d]]:
    """spaCy 3's v1 (in spacy-legacy): v2's arguments; it differs only in using StaticVectors.v1,
    which archcli implements as v2."""
    return MultiHashEmbed(width=width, attrs=attrs, rows=rows, include_static_vectors=include_static_vectors)


@architecture_and_layer("spacy.CharacterEmbed.v2")
def CharacterEmbed(
    width: int,
    rows: int,
    nM: int,
    nC: int,
    include_static_vectors: bool = False,
    feature: Union[int, str] = "NORM",
) -> Model[List[Doc], List[Floats2d]]:
    """nC UTF-8 bytes per word (half from each end) plus a hashed NORM vector, through a Maxout."""
    require_size("spacy.CharacterEmbed.v2", width=width, rows=rows, nM=nM, nC=nC)
    column = intify_attr(feature)
    chars = chain(CharacterEmbedLayer(nM=nM, nC=nC), cast(Model, list2ragged()))
    norms = chain(
        FeatureExtractor([column]),
        cast(Model, list2ragged()),
        with_array(HashEmbed(nO=width, nV=rows, column=0, seed=5)),
    )
    parts = [chars, norms]
    if include_static_vectors:
        parts.append(StaticVectors(width, dropout=0.0))
    n_inputs = nM * nC + width * (len(parts) - 1)
    model = chain(
        concatenate(*parts),
        with_array(Maxout(width, n_inputs, nP=3, normalize=True, dropout=0.0)),
        ragged2list(),
    )
    model.set_dim("nO", width)
    return model


@architecture_and_layer("spacy.CharacterEmbed.v1")
def CharacterEmbed_v1(
    width: int, rows: int, nM: int, nC: int, also_use_static_vectors: bool, feature: Union[int, str] = "NORM"
) -> Model[List[Doc], List[Floats2d]]:
    return CharacterEmbed(width, rows, nM, nC, include_static_vectors=also_use_static_vectors, feature=feature)


@architecture_and_layer("spacy.MaxoutWindowEncoder.v2")
def MaxoutWindowEncoder(
    width: int, window_size: int, maxout_pieces: int, depth: int
) -> Model[List[Floats2d], List[Floats2d]]:
    """`depth` residual blocks of window concatenation + layer-normalised Maxout."""
    require_size("spacy.MaxoutWindowEncoder.v2", width=width, maxout_pieces=maxout_pieces, depth=depth)
    require_size("spacy.MaxoutWindowEncoder.v2", window_size=window_size, minimum=0)
    cnn = chain(
        expand_window(window_size=window_size),
        Maxout(nO=width, nI=width * (window_size * 2 + 1), nP=maxout_pieces, dropout=0.0, normalize=True),
    )
    model = clone(residual(cnn), depth)
    model.set_dim("nO", width)
    # Padding by the receptive field keeps windows from reading across docs in the batch.
    return with_array(model, pad=window_size * depth)


architecture_and_layer("spacy.MaxoutWindowEncoder.v1")(MaxoutWindowEncoder)


@architecture_and_layer("spacy.MishWindowEncoder.v2")
def MishWindowEncoder(width: int, window_size: int, depth: int) -> Model[List[Floats2d], List[Floats2d]]:
    """As MaxoutWindowEncoder, with a layer-normalised Mish instead of Maxout."""
    require_size("spacy.MishWindowEncoder.v2", width=width, depth=depth)
    require_size("spacy.MishWindowEncoder.v2", window_size=window_size, minimum=0)
    cnn = chain(
        expand_window(window_size=window_size),
        Mish(nO=width, nI=width * (window_size * 2 + 1), dropout=0.0, normalize=True),
    )
    model = clone(residual(cnn), depth)
    model.set_dim("nO", width)
    return with_array(model, pad=window_size * depth)


architecture_and_layer("spacy.MishWindowEncoder.v1")(MishWindowEncoder)


@architecture_and_layer("spacy.TorchBiLSTMEncoder.v1")
def TorchBiLSTMEncoder(width: int, depth: int, dropout: float) -> Model[List[Floats2d], List[Floats2d]]:
    """Stacked bidirectional LSTMs (PyTorch through thinc's wrapper); width/2 units per direction.

    The one layer that needs torch: it is imported here, when the layer is built.
    """
    if depth == 0:
        return noop()
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        from ..errors import ConfigError

        raise ConfigError("spacy.TorchBiLSTMEncoder.v1 needs PyTorch, which is not installed: "
                          "pip install 'archcli[torch]', or choose spacy.MaxoutWindowEncoder.v2")
    from thinc.api import PyTorchLSTM

    model = with_padded(PyTorchLSTM(width, width, bi=True, depth=depth, dropout=dropout))
    model.set_dim("nO", width)
    return model
