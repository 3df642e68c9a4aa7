"""The spacy-transformers architectures: TransformerModel, TransformerListener, Tok2VecTransformer.

`TransformerModel` maps docs to one `TransformerData` per doc: the doc's wordpiece vectors (all
of its windows, in order) and, for each token, the rows of the wordpieces that overlap it.
`pool_wordpieces` turns that into one vector per token, so components see a tok2vec's output:
the listener does it for a shared `transformer` component, `Tok2VecTransformer` inline.
"""
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy
from thinc.api import Model, Ragged, chain, reduce_mean
from thinc.types import ArgsKwargs, Floats2d

from .._registry import architecture_and_layer, registry
from ..errors import ArchcliError, ConfigError
from ..tokens import Doc
from .hf_model import HFShim, padded_inputs
from .listener import Tok2VecListener, outputs_for
from .checks import bad_argument
from .span_getters import SpanGetter, configure_strided_spans
from .wordpiece_alignment import align_wordpieces, group_by_token

DEFAULT_MAX_BATCH_ITEMS = 4096


@dataclass
class TransformerData:
    """What the transformer computed for one doc (stored on `doc.trf_data` by the component).

    `wordpieces`: the input ids of each window; `vectors`: one row per wordpiece of all windows
    (special tokens excluded); `align`: per token, indices into `vectors` (`align.lengths[i]`
    rows for token i, zero for a token no wordpiece covers).
    """

    wordpieces: List[List[int]]
    vectors: Any
    align: Ragged
    width: int = 0
    extra: Dict[str, Any] = field(default_factory=dict)

    @classmethod
    def empty(cls, n_tokens: int, width: int, ops) -> "TransformerData":
        return cls([], ops.alloc2f(0, width), Ragged(ops.alloc1i(0), ops.alloc1i(n_tokens)), width)


# --- TransformerModel ----------------------------------------------------------------------

class TransformerModel(Model):
    """docs -> List[TransformerData]; the HF model lives in the `HFShim`, loaded at initialisation."""

    name = "transformer"

    def __init__(self, name: str, get_spans: SpanGetter, tokenizer_config: Dict[str, Any],
                 transformer_config: Dict[str, Any], mixed_precision: bool = False,
                 grad_scaler_config: Optional[Dict[str, Any]] = None) -> None:
        shim = HFShim(mixed_precision=mixed_precision, grad_scaler_config=grad_scaler_config)
        Model.__init__(self, self.name, transformer_forward, init=transformer_init, shims=[shim], dims={"nO": None},
                       attrs={"name": name, "get_spans": get_spans, "tokenizer_config": dict(tokenizer_config),
                              "transformer_config": dict(transformer_config),
                              "max_batch_items": DEFAULT_MAX_BATCH_ITEMS, "config_key": "model.name"})

    @property
    def shim(self) -> HFShim:
        return self.shims[0]

    def load(self) -> None:
        """Load the HF model from `name` unless weights are already there (a loaded pipeline)."""
        if not self.shim.is_loaded:
            self.shim.load_pretrained(self.attrs["name"], self.attrs["tokenizer_config"],
                                      self.attrs["transformer_config"], where=self.attrs["config_key"])
        self.check_windows()
        self.set_dim("nO", self.shim.hidden_width, force=True)

    def check_windows(self) -> None:
        window = getattr(self.attrs["get_spans"], "window", None)
        limit = self.shim.max_length - 2  # room for the [CLS]/[SEP]-style special tokens
        if window is not None and window > limit:
            key = self.attrs["config_key"].rsplit(".", 1)[0] + ".get_spans.window"
            raise ConfigError(f"window = {window} tokens, but the transformer '{self.attrs['name']}' takes at most "
                              f"{self.shim.max_length} wordpieces per window ({limit} without special tokens); use a "
                              f"window of at most {limit}", where=key)

    def from_bytes(self, bytes_data: bytes) -> "TransformerModel":
        Model.from_bytes(self, bytes_data)
        if self.shim.is_loaded:
            self.set_dim("nO", self.shim.hidden_width, force=True)
        return self


def transformer_init(model: TransformerModel, X=None, Y=None) -> None:
    model.load()


def _tokenize(model: TransformerModel, docs: List[Doc]):
    """Windows of every doc, their wordpieces (ids, types, character offsets) and doc of origin."""
    spans_per_doc = model.attrs["get_spans"](docs)
    if len(spans_per_doc) != len(docs):
        raise ArchcliError(f"the span getter returned spans for {len(spans_per_doc)} docs, not {len(docs)}")
    spans = [span for doc_spans in spans_per_doc for span in doc_spans]
    span_docs = numpy.repeat(numpy.arange(len(docs)), [len(s) for s in spans_per_doc])
    shim = model.shim
    if not spans:
        return spans, span_docs, None
    encoded = shim.tokenizer([span.text for span in spans], truncation=True, max_length=shim.max_length,
                             return_offsets_mapping=True, return_special_tokens_mask=True,
                             return_token_type_ids="token_type_ids" in shim.tokenizer.model_input_names,
                             return_attention_mask=False)
    return spans, span_docs, encoded


def _align_batch(docs: List[Doc], spans, span_docs, encoded) -> Tuple[List[numpy.ndarray], List[Ragged]]:
    """For each doc: the positions (span, piece) of its wordpieces in order, and the token alignment."""
    positions: List[List[numpy.ndarray]] = [[] for _ in docs]
    pairs: List[List[Tuple[numpy.ndarray, numpy.ndarray]]] = [[] for _ in docs]
    n_pieces = [0] * len(docs)
    for s, span in enumerate(spans):
        d = int(span_docs[s])
        doc = docs[d]
        offsets = numpy.asarray(encoded["offset_mapping"][s], dtype="int64").reshape(-1, 2)
        special = numpy.asarray(encoded["special_tokens_mask"][s], dtype=bool)
        keep = numpy.flatnonzero(~special & (offsets[:, 1] > offsets[:, 0]))
        base = span.start_char
        char_offsets = doc.char_offsets
        starts = char_offsets[span.start : span.end] - base
        ends = char_offsets[span.start + 1 : span.end + 1] - doc.spaces[span.start : span.end] - base
        tokens, pieces = align_wordpieces(starts, ends, offsets[keep, 0], offsets[keep, 1])
        pairs[d].append((tokens + span.start, pieces + n_pieces[d]))
        positions[d].append(numpy.stack([numpy.full(len(keep), s), keep], axis=1))
        n_pieces[d] += len(keep)
    aligns = []
    for d, doc in enumerate(docs):
        if pairs[d]:
            tokens = numpy.concatenate([t for t, _ in pairs[d]])
            pieces = numpy.concatenate([p for _, p in pairs[d]])
        else:
            tokens = pieces = numpy.zeros((0,), dtype="int64")
        data, lengths = group_by_token(tokens, pieces, len(doc))
        aligns.append(Ragged(data, lengths))
        positions[d] = numpy.concatenate(positions[d]) if positions[d] else numpy.zeros((0, 2), dtype="int64")
    return positions, aligns


def _sub_batches(lengths: numpy.ndarray, max_items: int) -> List[numpy.ndarray]:
    """Span indices grouped by length so that (spans x longest) stays within `max_items`."""
    order = numpy.argsort(lengths, kind="stable")
    batches, current, longest = [], [], 0
    for i in order:
        longest_if_added = max(longest, int(lengths[i]))
        if current and longest_if_added * (len(current) + 1) > max_items:
            batches.append(numpy.asarray(current))
            current, longest_if_added = [], int(lengths[i])
        current.append(int(i))
        longest = longest_if_added
    if current:
        batches.append(numpy.asarray(current))
    return batches


def transformer_forward(model: TransformerModel, docs: List[Doc], is_train: bool):
    from thinc.util import torch2xp, xp2torch

    ops = model.ops
    shim = model.shim
    width = model.get_dim("nO")
    spans, span_docs, encoded = _tokenize(model, docs)
    if encoded is None:
        return [TransformerData.empty(len(doc), width, ops) for doc in docs], lambda d_outputs: []
    ids = [numpy.asarray(x, dtype="int64") for x in encoded["input_ids"]]
    type_ids = encoded.get("token_type_ids")
    lengths = numpy.asarray([len(x) for x in ids])
    positions, aligns = _align_batch(docs, spans, span_docs, encoded)
    pad_id = shim.tokenizer.pad_token_id or 0
    # Output rows of every span, computed in sub-batches of bounded padded size.
    span_outputs: List[Any] = [None] * len(spans)
    backprops = []
    # Prediction runs in sub-batches of bounded padded size; training runs the batch at once, so
    # the gradient scaler unscales and checks the gradients once per update.
    batches = _sub_batches(lengths, model.attrs["max_batch_items"]) if not is_train else [numpy.arange(len(ids))]
    for batch in batches:
        input_ids, mask, token_types = padded_inputs([ids[i] for i in batch], lengths[batch], pad_id,
                                                     [type_ids[i] for i in batch] if type_ids else None)
        device = shim.device
        kwargs = {"input_ids": xp2torch(input_ids, device=device), "attention_mask": xp2torch(mask, device=device)}
        if token_types is not None:
            kwargs["token_type_ids"] = xp2torch(token_types, device=device)
        output, torch_backprop = shim(ArgsKwargs(args=(), kwargs=kwargs), is_train)
        hidden_torch = output.last_hidden_state if hasattr(output, "last_hidden_state") else output[0]
        hidden = torch2xp(hidden_torch.float() if hidden_torch.dtype != _float32() else hidden_torch)
        for row, i in enumerate(batch):
            span_outputs[int(i)] = (hidden, row)
        if is_train:
            backprops.append((batch, hidden_torch, hidden.shape, torch_backprop))
    outputs = []
    for d, doc in enumerate(docs):
        pos = positions[d]
        if len(pos):
            rows = [span_outputs[int(s)][0][span_outputs[int(s)][1], pos[pos[:, 0] == s, 1]]
                    for s in numpy.unique(pos[:, 0])]
            vectors = ops.xp.concatenate(rows) if len(rows) > 1 else rows[0]
        else:
            vectors = ops.alloc2f(0, width)
        wordpieces = [ids[int(s)].tolist() for s in numpy.flatnonzero(span_docs == d)]
        align = Ragged(ops.asarray1i(aligns[d].dataXd), ops.asarray1i(aligns[d].lengths))
        outputs.append(TransformerData(wordpieces, ops.asarray2f(vectors), align, width))

    def backprop(d_vectors: List[Floats2d]) -> List:
        """Scatter each doc's wordpiece gradients back into the padded windows and run torch backward."""
        grads = {}
        for d, d_doc in enumerate(d_vectors):
            pos = positions[d]
            if not len(pos) or d_doc is None:
                continue
            offset = 0
            for s in numpy.unique(pos[:, 0]):
                cols = pos[pos[:, 0] == s, 1]
                grads[int(s)] = (cols, d_doc[offset : offset + len(cols)])
                offset += len(cols)
        for batch, hidden_torch, shape, torch_backprop in backprops:
            d_hidden = ops.alloc3f(*shape)
            for row, s in enumerate(batch):
                if int(s) in grads:
                    cols, d_rows = grads[int(s)]
                    d_hidden[row, cols] += d_rows
            d_torch = xp2torch(d_hidden, device=hidden_torch.device).to(hidden_torch.dtype)
            torch_backprop(ArgsKwargs(args=(hidden_torch,), kwargs={"grad_tensors": (d_torch,)}))
        return []

    return outputs, backprop


def _float32():
    import torch

    return torch.float32


def _transformer_model(name: str, get_spans: Callable, tokenizer_config: Dict[str, Any],
                       transformer_config: Optional[Dict[str, Any]] = None, mixed_precision: bool = False,
                       grad_scaler_config: Optional[Dict[str, Any]] = None) -> TransformerModel:
    if name is None or name == "":
        raise bad_argument("spacy-transformers.TransformerModel", "name", "no model directory given: set it to a local "
                           "Hugging Face model directory (with the shipped configs: --paths.transformer DIR)")
    if not isinstance(name, (str,)) and not hasattr(name, "__fspath__"):
        raise bad_argument("spacy-transformers.TransformerModel", "name",
                           f"{name!r} must be the path of a local model directory")
    if not callable(get_spans):
        raise ConfigError("get_spans must be a span getter block, e.g. @span_getters = "
                          "\"spacy-transformers.strided_spans.v1\"", where="get_spans")
    return TransformerModel(str(name), get_spans, tokenizer_config or {}, transformer_config or {},
                            mixed_precision, grad_scaler_config or {})


@registry.architectures("spacy-transformers.TransformerModel.v1")
def build_transformer_model_v1(name: Optional[str], get_spans: Callable, tokenizer_config: dict) -> Model:
    return _transformer_model(name, get_spans, tokenizer_config)


@registry.architectures("spacy-transformers.TransformerModel.v2")
def build_transformer_model_v2(name: Optional[str], get_spans: Callable, tokenizer_config: dict = {},
                               transformer_config: dict = {}) -> Model:
    return _transformer_model(name, get_spans, tokenizer_config, transformer_config)


@registry.architectures("spacy-transformers.TransformerModel.v3")
def build_transformer_model_v3(name: Optional[str], get_spans: Callable, tokenizer_config: dict = {},
                               transformer_config: dict = {}, mixed_precision: bool = False,
                               grad_scaler_config: dict = {}) -> Model:
    """A Hugging Face transformer from a local directory, run over the windows `get_spans` cuts."""
    return _transformer_model(name, get_spans, tokenizer_config, transformer_config, mixed_precision,
                              grad_scaler_config)


# --- pooling wordpieces into token vectors ------------------------------------------------

def pool_wordpieces(pooling: Model, grad_factor: float = 1.0) -> Model:
    """List[TransformerData] -> one vector per token, pooled (e.g. mean) over its wordpieces."""
    return Model("trf-pooling", pool_forward, layers=[pooling], attrs={"grad_factor": float(grad_factor)},
                 dims={"nO": None})


def pool_forward(model: Model, datas: List[TransformerData], is_train: bool):
    pooling = model.layers[0]
    ops = model.ops
    if not datas:
        return [], lambda d: []
    lengths = [len(data.align.lengths) for data in datas]
    ragged = Ragged(ops.xp.concatenate([data.vectors[data.align.dataXd] for data in datas]),
                    ops.xp.concatenate([data.align.lengths for data in datas]))
    if not len(ragged.dataXd):
        # No wordpieces at all: thinc's reductions would lose the width, so pool to zeros here.
        width = datas[0].vectors.shape[1]
        zeros = [ops.alloc2f(n, width) for n in lengths]
        return zeros, lambda d_outputs: [ops.alloc2f(*data.vectors.shape) for data in datas]
    pooled, bp_pooled = pooling(ragged, is_train)
    outputs = list(ops.xp.split(pooled, numpy.cumsum(lengths)[:-1]))
    grad_factor = model.attrs["grad_factor"]

    def backprop(d_outputs: List[Floats2d]) -> List[Floats2d]:
        d_pieces = bp_pooled(ops.xp.concatenate(d_outputs)).dataXd
        if grad_factor != 1.0:
            d_pieces = d_pieces * grad_factor
        d_vectors, start = [], 0
        for data in datas:
            n = len(data.align.dataXd)
            d_doc = ops.alloc2f(*data.vectors.shape)
            ops.scatter_add(d_doc, data.align.dataXd, d_pieces[start : start + n])
            d_vectors.append(d_doc)
            start += n
        return d_vectors

    return outputs, backprop


def _check_pooling(pooling: Any, where: str) -> Model:
    if not isinstance(pooling, Model):
        raise ConfigError("pooling must be a reduction layer block, e.g. @layers = \"reduce_mean.v1\"", where=where)
    return pooling


# --- the listener -------------------------------------------------------------------------

class TransformerListener(Model):
    """Token vectors pooled from an upstream `transformer` component's output for this batch.

    In training the component calls `receive` with its outputs and a callback that takes the
    gradient of those outputs; at prediction the listener reads `doc.trf_data`.
    """

    name = "transformer-listener"

    def __init__(self, upstream_name: str, pooling: Model, grad_factor: float) -> None:
        Model.__init__(self, self.name, listener_forward, layers=[pool_wordpieces(pooling, grad_factor)],
                       dims={"nO": None})
        self.upstream_name = upstream_name
        self.grad_factor = float(grad_factor)
        self._batch_id: Optional[int] = None
        self._outputs: Optional[List[TransformerData]] = None
        self._backprop: Optional[Callable] = None

    @staticmethod
    def get_batch_id(docs: List[Doc]) -> int:
        return _batch_id(docs)

    def receive(self, batch_id: int, outputs: List[TransformerData], backprop: Callable) -> None:
        self._batch_id, self._outputs, self._backprop = batch_id, outputs, backprop

    def clear(self) -> None:
        self._batch_id = self._outputs = self._backprop = None

    def set_width(self, width: int) -> None:
        self.set_dim("nO", width, force=True)
        self.layers[0].set_dim("nO", width, force=True)

    def verify_inputs(self, docs: List[Doc]) -> bool:
        if self._outputs is None:
            return False
        if self._batch_id != _batch_id(docs):
            raise ArchcliError("a transformer listener got a different batch from the one its upstream transformer "
                               f"component '{getattr(self, 'upstream_component', self.upstream_name)}' processed; listeners must see the same docs")
        return True


def _batch_id(docs: List[Doc]) -> int:
    return Tok2VecListener.get_batch_id(docs)


def listener_forward(model: TransformerListener, docs: List[Doc], is_train: bool):
    pool = model.layers[0]
    if is_train and model.verify_inputs(docs):
        outputs, upstream_backprop = outputs_for(docs, model._outputs, model._backprop,
                                                 lambda data: len(data.align.lengths),
                                                 lambda data: model.ops.alloc2f(*data.vectors.shape))
        tokvecs, bp_pool = pool(outputs, is_train=True)

        def backprop(d_tokvecs):
            return upstream_backprop(bp_pool(d_tokvecs))

        return tokvecs, backprop
    width = model.get_dim("nO")
    datas = [doc.trf_data if _fits(getattr(doc, "trf_data", None), doc, width)
             else TransformerData.empty(len(doc), width, model.ops) for doc in docs]
    tokvecs, _ = pool(datas, is_train=False)
    return tokvecs, lambda d: []


def _fits(data: Optional[TransformerData], doc: Doc, width: int) -> bool:
    return data is not None and len(data.align.lengths) == len(doc) and data.width == width


@architecture_and_layer("spacy-transformers.TransformerListener.v1")
def build_transformer_listener(grad_factor: float = 1.0, pooling: Optional[Model] = None, upstream: str = "*") -> Model:
    """Token vectors from a `transformer` component earlier in the pipeline."""
    pooling = reduce_mean() if pooling is None else _check_pooling(pooling, "pooling")
    return TransformerListener(upstream, pooling, grad_factor)


# --- Tok2VecTransformer: a transformer inside one component -------------------------------

def _tok2vec_transformer(name, get_spans, tokenizer_config, pooling, grad_factor, transformer_config=None,
                         mixed_precision=False, grad_scaler_config=None) -> Model:
    get_spans = get_spans if get_spans is not None else configure_strided_spans(window=128, stride=96)
    pooling = reduce_mean() if pooling is None else _check_pooling(pooling, "pooling")
    transformer = _transformer_model(name, get_spans, tokenizer_config, transformer_config, mixed_precision,
                                     grad_scaler_config)
    model = chain(transformer, pool_wordpieces(pooling, grad_factor))
    model.name = "tok2vec-transformer"
    model.init = _tok2vec_transformer_init
    model.set_ref("transformer", transformer)
    return model


def _tok2vec_transformer_init(model: Model, X=None, Y=None) -> None:
    transformer = model.get_ref("transformer")
    transformer.initialize()
    width = transformer.get_dim("nO")
    model.layers[1].set_dim("nO", width, force=True)
    model.set_dim("nO", width, force=True)


@registry.architectures("spacy-transformers.Tok2VecTransformer.v1")
def build_tok2vec_transformer_v1(name: Optional[str], tokenizer_config: dict = {}, get_spans: Optional[Callable] = None,
                                 pooling: Optional[Model] = None, grad_factor: float = 1.0) -> Model:
    return _tok2vec_transformer(name, get_spans, tokenizer_config, pooling, grad_factor)


@registry.architectures("spacy-transformers.Tok2VecTransformer.v2")
def build_tok2vec_transformer_v2(name: Optional[str], tokenizer_config: dict = {}, transformer_config: dict = {},
                                 get_spans: Optional[Callable] = None, pooling: Optional[Model] = None, grad_factor: float = 1.0) -> Model:
    return _tok2vec_transformer(name, get_spans, tokenizer_config, pooling, grad_factor, transformer_config)


@registry.architectures("spacy-transformers.Tok2VecTransformer.v3")
def build_tok2vec_transformer_v3(name: Optional[str], tokenizer_config: dict = {}, transformer_config: dict = {},
                                 get_spans: Optional[Callable] = None, pooling: Optional[Model] = None, grad_factor: float = 1.0,
                                 mixed_precision: bool = False, grad_scaler_config: dict = {}) -> Model:
    """A transformer as one component's tok2vec (not shared); windows default to strided 128/96,
    pooling to the mean, where the spec's block leaves them out."""
    return _tok2vec_transformer(name, get_spans, tokenizer_config, pooling, grad_factor, transformer_config,
                                mixed_precision, grad_scaler_config)


TRANSFORMER_ARCHS = ("spacy-transformers.TransformerModel.", "spacy-transformers.Tok2VecTransformer.")


def name_config_keys(model: Model, block: Any, path: str) -> None:
    """Tell each TransformerModel in `model` the config key of its `name` (for its error messages),
    matching the transformer blocks of the component's config `block` in order."""
    keys = list(_transformer_name_keys(block, path))
    nodes = [node for node in model.walk() if isinstance(node, TransformerModel)]
    for node, key in zip(nodes, keys):
        node.attrs["config_key"] = key


def _transformer_name_keys(block: Any, path: str):
    if not isinstance(block, dict):
        return
    if str(block.get("@architectures", "")).startswith(TRANSFORMER_ARCHS):
        yield f"{path}.name"
    for key, value in block.items():
        yield from _transformer_name_keys(value, f"{path}.{key}")
