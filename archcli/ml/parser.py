"""spacy.TransitionBasedParser.v2: tok2vec once per batch, a precomputed lower layer, an optional
upper layer, driven step by step by a transition system (the parser and ner components).

The lower layer multiplies every token vector by the weights of every feature slot once per batch
(`Yf`, shape tokens × slots × hidden × pieces). A state's hidden vector is then the sum of the rows
its feature tokens pick out, plus a bias, through maxout — a gather and a sum per step for all
states of the batch, instead of a matrix product per state.
"""
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy
from thinc.api import Linear, Model, chain, glorot_uniform_init, list2array, zero_init
from thinc.types import Floats2d

from .._registry import architecture_and_layer
from ..tokens import Doc
from .checks import bad_argument, require_size

STATE_FEATURES = {("parser", False): 8, ("parser", True): 13, ("ner", False): 3, ("ner", True): 6}


@architecture_and_layer("spacy.TransitionBasedParser.v2")
def TransitionBasedParser(
    tok2vec: Model[List[Doc], List[Floats2d]],
    state_type: str,
    extra_state_tokens: bool,
    hidden_width: int,
    maxout_pieces: int,
    use_upper: bool,
    nO: Optional[int] = None,
) -> Model:
    """`nO` (the number of actions) is usually set from the labels at initialisation."""
    arch = "spacy.TransitionBasedParser.v2"
    if state_type not in ("parser", "ner"):
        raise bad_argument(arch, "state_type", f"must be 'parser' or 'ner', not {state_type!r}")
    require_size(arch, hidden_width=hidden_width, maxout_pieces=maxout_pieces)
    require_size(arch, nO=nO, optional=True)
    n_features = STATE_FEATURES[(state_type, bool(extra_state_tokens))]
    projected = chain(tok2vec, list2array(), Linear(hidden_width, tok2vec.maybe_get_dim("nO")))
    projected.set_dim("nO", hidden_width)
    lower = PrecomputableAffine(
        nO=hidden_width if use_upper else nO, nF=n_features, nI=hidden_width, nP=maxout_pieces
    )
    layers = [projected, lower]
    refs: Dict[str, Model] = {"tok2vec": projected, "lower": lower}
    if use_upper:
        upper = Linear(nO=nO, nI=hidden_width, init_W=zero_init)
        layers.append(upper)
        refs["upper"] = upper
    model = Model(
        "parser_model",
        parser_forward,
        init=init_parser_model,
        layers=layers,
        refs=refs,
        dims={"nO": nO},
        attrs={"state_type": state_type, "n_features": n_features, "has_upper": use_upper,
               "extra_state_tokens": bool(extra_state_tokens)},
    )
    return model


@architecture_and_layer("spacy.TransitionBasedParser.v1")
def TransitionBasedParser_v1(
    tok2vec: Model[List[Doc], List[Floats2d]],
    state_type: str,
    extra_state_tokens: bool,
    hidden_width: int,
    maxout_pieces: int,
    use_upper: bool = True,
    nO: Optional[int] = None,
) -> Model:
    return TransitionBasedParser(tok2vec, state_type, extra_state_tokens, hidden_width, maxout_pieces,
                                 use_upper, nO)


def PrecomputableAffine(nO: Optional[int], nI: Optional[int], nF: int, nP: int) -> Model:
    """W (nF, nO, nP, nI), b (nO, nP), and a learned vector per slot for 'no token' (pad)."""
    return Model(
        "precomputable_affine",
        _lower_forward,
        init=_init_lower,
        dims={"nO": nO, "nI": nI, "nF": nF, "nP": nP},
        params={"W": None, "b": None, "pad": None},
        attrs={"dropout_rate": 0.1},
    )


def _lower_forward(model: Model, X: Any, is_train: bool):
    raise NotImplementedError("the lower layer is precomputed and driven by ParserStepModel")


def _init_lower(model: Model, X=None, Y=None) -> Model:
    nF, nO, nP, nI = (model.get_dim(d) for d in ("nF", "nO", "nP", "nI"))
    W = glorot_uniform_init(model.ops, (nF * nO * nP, nI)).reshape((nF, nO, nP, nI))
    model.set_param("W", W)
    model.set_param("b", model.ops.alloc2f(nO, nP))
    model.set_param("pad", model.ops.alloc4f(1, nF, nO, nP))
    return model


def init_parser_model(model: Model, X: Optional[List[Doc]] = None, Y=None) -> Model:
    nO = model.maybe_get_dim("nO")
    if nO is None:
        raise ValueError("the parser model needs its number of actions (nO) before initialisation")
    projected = model.get_ref("tok2vec")
    projected.initialize(X=X)
    lower = model.get_ref("lower")
    if model.attrs["has_upper"]:
        upper = model.get_ref("upper")
        upper.set_dim("nO", nO)
        upper.initialize()
    else:
        lower.set_dim("nO", nO)
    lower.initialize()
    return model


def resize_output(model: Model, new_nO: int) -> None:
    """Grow the action layer for new labels, keeping the weights learnt for the old ones."""
    old_nO = model.maybe_get_dim("nO")
    if old_nO == new_nO:
        return
    layer = model.get_ref("upper") if model.attrs["has_upper"] else model.get_ref("lower")
    model.set_dim("nO", new_nO, force=True)
    if old_nO is None or not layer.has_param("W") or layer.get_param("W") is None:
        layer.set_dim("nO", new_nO, force=True)
        return
    if model.attrs["has_upper"]:
        W, b = layer.get_param("W"), layer.get_param("b")
        newW = model.ops.alloc2f(new_nO, W.shape[1])
        newb = model.ops.alloc1f(new_nO)
        newW[:old_nO] = W
        newb[:old_nO] = b
        layer.set_dim("nO", new_nO, force=True)
        layer.set_param("W", newW)
        layer.set_param("b", newb)
    else:
        W, b, pad = layer.get_param("W"), layer.get_param("b"), layer.get_param("pad")
        nF, _, nP, nI = W.shape
        newW = model.ops.alloc4f(nF, new_nO, nP, nI)
        newW[:, :old_nO] = W
        newb = model.ops.alloc2f(new_nO, nP)
        newb[:old_nO] = b
        newpad = model.ops.alloc4f(1, nF, new_nO, nP)
        newpad[:, :, :old_nO] = pad
        layer.set_dim("nO", new_nO, force=True)
        layer.set_param("W", newW)
        layer.set_param("b", newb)
        layer.set_param("pad", newpad)


def parser_forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple["ParserStepModel", Callable]:
    step_model = ParserStepModel(model, docs, is_train)
    return step_model, step_model.finish_update


class ParserStepModel:
    """The batch's precomputed lower layer; scores states step by step and collects gradients."""

    def __init__(self, model: Model, docs: List[Doc], is_train: bool) -> None:
        self.model = model
        self.ops = model.ops
        self.is_train = is_train
        lengths = [len(doc) for doc in docs]
        self.offsets = numpy.concatenate([[0], numpy.cumsum(lengths)[:-1]]).astype("int64") if docs else numpy.zeros((0,), "int64")
        self.n_tokens = int(sum(lengths))
        lower = model.get_ref("lower")
        self.nF, self.nO, self.nP, nI = lower.get_param("W").shape
        ops = self.ops
        if self.n_tokens and is_train:
            tokvecs, self._bp_tokvecs = model.get_ref("tok2vec")(docs, is_train)
        elif self.n_tokens:
            # predict() keeps no backprop closure, so the tok2vec's activations are freed before parsing.
            tokvecs, self._bp_tokvecs = model.get_ref("tok2vec").predict(docs), None
        else:
            tokvecs, self._bp_tokvecs = ops.alloc2f(0, nI), None
        self.tokvecs = tokvecs
        W = lower.get_param("W")
        width = self.nO * self.nP
        # One extra "token" row holds each slot's pad vector, so missing features are index n_tokens.
        # The product is written straight into the table (no second copy of the batch's largest array).
        Yf = ops.alloc2f(self.n_tokens + 1, self.nF * width, zeros=False)
        if self.n_tokens:
            ops.gemm(tokvecs, W.reshape((self.nF * width, nI)), trans2=True, out=Yf[: self.n_tokens])
        Yf[self.n_tokens] = lower.get_param("pad").reshape((self.nF * width,))
        self.Yf = Yf.reshape((self.n_tokens + 1, self.nF, width))
        self.Yf2d = self.Yf.reshape((-1, width))
        self.b = lower.get_param("b")
        self.has_upper = model.attrs["has_upper"]
        if self.has_upper:
            upper = model.get_ref("upper")
            self.upper_W = upper.get_param("W")
            self.upper_b = upper.get_param("b")
        self.drop = lower.attrs.get("dropout_rate") if is_train else None
        if is_train:
            self.d_Yf = ops.alloc3f(*self.Yf.shape)
            self.d_Yf2d = self.d_Yf.reshape((-1, width))
            self.d_b = ops.alloc2f(self.nO, self.nP)
            if self.has_upper:
                self.d_upper_W = ops.alloc2f(*self.upper_W.shape)
                self.d_upper_b = ops.alloc1f(*self.upper_b.shape)

    def global_ids(self, doc_rows: numpy.ndarray, local_ids: numpy.ndarray) -> numpy.ndarray:
        ids = local_ids + self.offsets[doc_rows][:, None]
        return numpy.where(local_ids >= 0, ids, self.n_tokens)

    def predict_states(self, ids: numpy.ndarray) -> Tuple[numpy.ndarray, Any]:
        """Scores (numpy, n_states × n_actions) for states whose feature tokens are `ids`."""
        ops = self.ops
        n = len(ids)
        # Row of (token, slot) in Yf viewed as a 2d table: one gather-and-sum for all states.
        rows = ops.asarray2i(ids * self.nF + numpy.arange(self.nF)[None, :], dtype="int32")
        summed = ops.gather_add(self.Yf2d, rows).reshape((n, self.nO, self.nP)) + self.b
        mask = None
        if self.drop:
            mask = ops.get_dropout_mask((n, self.nO, 1), self.drop)
            summed *= mask
        if self.nP > 1:
            hidden, which = ops.maxout(summed)
        else:
            which = None
            hidden = summed[:, :, 0]
            if self.has_upper:
                hidden = hidden * (hidden > 0)
        if self.has_upper:
            scores = hidden @ self.upper_W.T + self.upper_b
        else:
            scores = hidden
        return ops.to_numpy(scores), (rows, hidden, which, summed, mask)

    def backprop_states(self, handle: Any, d_scores: numpy.ndarray) -> None:
        ops = self.ops
        xp = ops.xp
        rows, hidden, which, summed, mask = handle
        d_scores = ops.asarray2f(d_scores)
        if self.has_upper:
            self.d_upper_W += d_scores.T @ hidden
            self.d_upper_b += d_scores.sum(axis=0)
            d_hidden = d_scores @ self.upper_W
        else:
            d_hidden = d_scores
        n = d_hidden.shape[0]
        if self.nP > 1:
            d_summed = ops.backprop_maxout(ops.asarray2f(d_hidden), which, self.nP)
        else:
            if self.has_upper:
                d_hidden = d_hidden * (summed[:, :, 0] > 0)
            d_summed = d_hidden.reshape((n, self.nO, 1))
        if mask is not None:
            d_summed *= mask
        self.d_b += d_summed.sum(axis=0)
        flat = d_summed.reshape((n, self.nO * self.nP))
        # Every feature slot of a state received the same gradient: scatter it to (token, slot) rows.
        values = xp.repeat(flat, self.nF, axis=0)
        ops.scatter_add(self.d_Yf2d, rows.ravel(), values)

    def finish_update(self, _: Any = None) -> None:
        """Backprop the collected gradients through the precomputation and the tok2vec."""
        if not self.is_train:
            return
        ops = self.ops
        model = self.model
        lower = model.get_ref("lower")
        nI = self.tokvecs.shape[1]
        width = self.nO * self.nP
        d_pad = self.d_Yf[self.n_tokens].reshape((1, self.nF, self.nO, self.nP))
        d_Yf = self.d_Yf[: self.n_tokens].reshape((self.n_tokens, self.nF * width))
        W = lower.get_param("W").reshape((self.nF * width, nI))
        lower.inc_grad("W", ops.gemm(d_Yf, self.tokvecs, trans1=True).reshape((self.nF, self.nO, self.nP, nI)))
        lower.inc_grad("b", self.d_b)
        lower.inc_grad("pad", d_pad)
        if self.has_upper:
            upper = model.get_ref("upper")
            upper.inc_grad("W", self.d_upper_W)
            upper.inc_grad("b", self.d_upper_b)
        if self._bp_tokvecs is not None:
            self._bp_tokvecs(ops.gemm(d_Yf, W))
