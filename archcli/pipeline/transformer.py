"""The `transformer` component: one transformer run per batch, shared with every listener.

It stores each doc's wordpieces, wordpiece vectors and alignment on `doc.trf_data`, and saves
the Hugging Face model as files (config.json, model.safetensors, tokenizer files) in its own
folder of the model directory, so a trained pipeline needs nothing else on disk.
"""
import contextlib
from pathlib import Path
from typing import Callable, Iterable, List, Union

from thinc.api import Model

from .._registry import registry
from ..errors import ConfigError, ModelDirError
from ..ml.transformers import TransformerData, TransformerListener, TransformerModel
from ..tokens import Doc
from ..tokens.example import Example
from .factories import factory
from .listened import ListenedPipe

HF_DIR = "hf_model"

DEFAULT_TRANSFORMER_CONFIG = """
[component]
max_batch_items = 4096

[component.set_extra_annotations]
@annotation_setters = "spacy-transformers.null_annotation_setter.v1"

[component.model]
@architectures = "spacy-transformers.TransformerModel.v3"
name = "roberta-base"
tokenizer_config = {"use_fast": true}
transformer_config = {}
mixed_precision = false
grad_scaler_config = {}

[component.model.get_spans]
@span_getters = "spacy-transformers.strided_spans.v1"
window = 128
stride = 96
"""


@registry.annotation_setters("spacy-transformers.null_annotation_setter.v1")
def configure_null_annotation_setter() -> Callable[[List[Doc], List[TransformerData]], None]:
    """Sets nothing beyond `doc.trf_data`."""

    def setter(docs: List[Doc], trf_data: List[TransformerData]) -> None:
        pass

    return setter


@factory("transformer", default_config=DEFAULT_TRANSFORMER_CONFIG)
def make_transformer(nlp, name: str, model: Model, set_extra_annotations: Callable,
                     max_batch_items: int) -> "Transformer":
    if not isinstance(model, TransformerModel):
        raise ConfigError("the transformer component needs a spacy-transformers.TransformerModel.v1/v2/v3 model "
                          f"(got {getattr(model, 'name', type(model).__name__)!r})", where=f"components.{name}.model")
    if not isinstance(max_batch_items, int) or isinstance(max_batch_items, bool) or max_batch_items < 1:
        raise ConfigError(f"max_batch_items = {max_batch_items!r}: must be a positive integer",
                          where=f"components.{name}.max_batch_items")
    if not callable(set_extra_annotations):
        raise ConfigError("must be an annotation setter block", where=f"components.{name}.set_extra_annotations")
    return Transformer(nlp.vocab, model, set_extra_annotations, max_batch_items=max_batch_items, name=name)


class Transformer(ListenedPipe):
    listener_type = TransformerListener
    kind = "transformer"

    def __init__(self, vocab, model: TransformerModel, set_extra_annotations: Callable, *,
                 max_batch_items: int = 4096, name: str = "transformer") -> None:
        super().__init__(vocab, model, name)
        self.set_extra_annotations = set_extra_annotations
        model.attrs["max_batch_items"] = max_batch_items
        model.attrs["config_key"] = f"components.{name}.model.name"

    def _check_width(self, listener: TransformerListener, component_name: str) -> None:
        """Listeners take the transformer's width (they have no width setting of their own)."""
        width = self.model.maybe_get_dim("nO")
        if width is not None and listener.layers[0].maybe_get_dim("nO") is None:
            listener.set_width(width)

    def _share_width(self) -> None:
        for group in self.listener_map.values():
            for listener in group:
                self._check_width(listener, "")

    def check_loaded_listeners(self, path: Path) -> None:
        width = self.model.get_dim("nO")
        for component_name, group in self.listener_map.items():
            for listener in group:
                pooled = listener.layers[0]
                saved = pooled.maybe_get_dim("nO")
                if saved is not None and saved != width:
                    raise ModelDirError(f"the transformer outputs width {width}, but component '{component_name}' was "
                                        f"trained on width {saved}: {HF_DIR}/ holds another model's weights than the "
                                        "ones this pipeline was trained with", where=str(path / HF_DIR))

    def zeros_like(self, outputs: List[TransformerData]):
        return [self.model.ops.alloc2f(*data.vectors.shape) for data in outputs]

    def begin_listened_update(self, docs: List[Doc]):
        # No listener passes a gradient back (all grad_factor = 0): run without autograd.
        if self.listeners and all(listener.grad_factor == 0 for listener in self.listeners):
            return self.model.predict(docs), lambda d_outputs: []
        return self.model.begin_update(docs)

    def predict(self, docs: List[Doc]) -> List[TransformerData]:
        return self.model.predict(docs)

    def set_annotations(self, docs: List[Doc], outputs: List[TransformerData]) -> None:
        for doc, data in zip(docs, outputs):
            doc.trf_data = data
        self.set_extra_annotations(docs, outputs)

    def initialize(self, get_examples: Callable[[], Iterable[Example]], *, nlp=None, **kwargs) -> None:
        self.model.initialize()
        self._share_width()

    # --- serialisation: the HF model as files beside the thinc weights ------------------
    def to_disk(self, path: Union[str, Path]) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        shim = self.model.shim
        if shim.is_loaded:
            shim.save_dir(path / HF_DIR)
        with _external_weights(shim):
            super().to_disk(path)

    def from_disk(self, path: Union[str, Path]) -> "Transformer":
        path = Path(path)
        hf_dir = path / HF_DIR
        if not hf_dir.is_dir():
            raise ModelDirError(f"component '{self.name}' has no saved transformer ({HF_DIR}/ with config.json, "
                                "model.safetensors and tokenizer files)", where=str(path))
        self.model.shim.load_dir(hf_dir)
        self.model.check_windows()
        super().from_disk(path)
        # Listeners keep the width saved with their own component; check_loaded_listeners compares.
        self.model.set_dim("nO", self.model.shim.hidden_width, force=True)
        return self


@contextlib.contextmanager
def _external_weights(shim):
    shim.external_weights = True
    try:
        yield
    finally:
        shim.external_weights = False
