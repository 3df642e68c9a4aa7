"""The component protocol: predict a batch, write annotations, and (if trainable) update."""
import json
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple, Union

import srsly
from thinc.api import Model, Optimizer, set_dropout_rate

from ..errors import ArchcliError, ConfigError, ModelDirError
from ..fileio import read_json
from ..tokens import Doc
from ..tokens.example import Example


class Pipe:
    """A component that annotates docs in place. Subclasses implement predict/set_annotations."""

    name: str = ""
    model: Optional[Model] = None
    is_trainable = False

    def __call__(self, doc: Doc) -> Doc:
        self.set_annotations([doc], self.predict([doc]))
        return doc

    def pipe(self, docs: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        batch: List[Doc] = []
        for doc in docs:
            batch.append(doc)
            if len(batch) >= batch_size:
                self.set_annotations(batch, self.predict(batch))
                yield from batch
                batch = []
        if batch:
            self.set_annotations(batch, self.predict(batch))
            yield from batch

    def predict(self, docs: List[Doc]) -> Any:
        raise NotImplementedError

    def set_annotations(self, docs: List[Doc], predictions: Any) -> None:
        raise NotImplementedError

    def initialize(self, get_examples: Callable[[], Iterable[Example]], *, nlp=None, **kwargs) -> None:
        pass

    def score(self, examples: Iterable[Example], **kwargs) -> Dict[str, Any]:
        scorer = getattr(self, "scorer", None)
        return scorer(examples, **kwargs) if scorer is not None else {}


class TrainablePipe(Pipe):
    """A component with a thinc model, a config dict (`cfg`, e.g. labels) and a loss."""

    is_trainable = True

    def __init__(self, vocab, model: Model, name: str, **cfg: Any) -> None:
        self.vocab = vocab
        self.model = model
        self.name = name
        self.cfg: Dict[str, Any] = dict(cfg)

    def predict(self, docs: List[Doc]) -> Any:
        return self.model.predict(docs)

    def update(
        self,
        examples: List[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        losses = {} if losses is None else losses
        losses.setdefault(self.name, 0.0)
        docs = [eg.predicted for eg in examples]
        if not any(len(doc) for doc in docs):
            return losses
        set_dropout_rate(self.model, drop)
        scores, backprop = self.model.begin_update(docs)
        loss, d_scores = self.get_loss(examples, scores)
        backprop(d_scores)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def get_loss(self, examples: List[Example], scores: Any):
        raise NotImplementedError

    def finish_update(self, sgd: Optimizer) -> None:
        self.model.finish_update(sgd)

    def use_params(self, params: Dict):
        return self.model.use_params(params)

    # --- serialisation: model weights plus the cfg as JSON ------------------------------
    def to_disk(self, path: Union[str, Path]) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        srsly.write_json(path / "cfg", self.cfg)
        (path / "model").write_bytes(self.model.to_bytes())

    def from_disk(self, path: Union[str, Path]) -> "TrainablePipe":
        path = Path(path)
        if not (path / "model").exists():
            raise ModelDirError(f"component '{self.name}' has no weights file", where=str(path / "model"))
        if (path / "cfg").exists():
            cfg = read_json(path / "cfg", error=ModelDirError)
            if not isinstance(cfg, dict):
                raise ModelDirError("damaged: expected a JSON object", where=str(path / "cfg"))
            self.cfg.update(cfg)
            self._after_cfg_loaded()
        try:
            self.model.from_bytes((path / "model").read_bytes())
        except (ValueError, KeyError, TypeError) as err:
            raise ModelDirError(
                f"weights of component '{self.name}' do not fit the model its config builds: {err}",
                where=str(path / "model"),
            )
        return self

    def _after_cfg_loaded(self) -> None:
        """Hook for components whose model needs something from cfg (e.g. label count)."""


class LabelledPipe(TrainablePipe):
    """A trainable component that predicts one of a list of labels, kept in `cfg["labels"]`.

    The list is saved and restored with `cfg`, so a loaded component sizes its model from it.
    Subclasses react to a new label in `_labels_changed` (resize an output layer, rebuild a
    lookup) and may refuse one in `_check_can_add`.
    """

    def __init__(self, vocab, model: Model, name: str, **cfg: Any) -> None:
        super().__init__(vocab, model, name, labels=[], **cfg)

    @property
    def labels(self) -> Tuple[str, ...]:
        return tuple(self.cfg["labels"])

    @property
    def label_data(self) -> List[str]:
        """What `[initialize.components.X] labels` takes to rebuild the same label set."""
        return list(self.cfg["labels"])

    def add_label(self, label: str) -> int:
        """Add a label (1), or do nothing if it is known (0)."""
        added = self._append_label(label)
        if added:
            self._labels_changed()
        return added

    def set_labels(self, labels: Iterable[str]) -> None:
        """Replace the label list (at initialisation), checking each label as add_label does.

        The model and lookups are brought in line once, not per label: rebuilding them is
        linear in the label count.
        """
        self.cfg["labels"] = []
        for label in labels:
            self._append_label(label)
        self._labels_changed()

    def _append_label(self, label: str) -> int:
        if not isinstance(label, str) or not label:
            raise ArchcliError(f"component '{self.name}': labels must be non-empty strings, got {label!r}")
        if label in self.cfg["labels"]:
            return 0
        self._check_can_add(label)
        self.cfg["labels"].append(label)
        self.vocab.strings.add(label)
        return 1

    def _check_output_width(self, layer: Model, key: str) -> None:
        """Refuse an output layer configured with an nO other than the number of labels (thinc
        would fail on it later with a shape error or an out-of-bounds index)."""
        nO = layer.maybe_get_dim("nO")
        if nO is not None and nO != len(self.labels):
            raise ConfigError(
                f"nO = {nO}, but there are {len(self.labels)} labels to predict; set nO = null (sized from "
                f"the labels) or {len(self.labels)}",
                where=f"components.{self.name}.{key}",
            )

    def _check_can_add(self, label: str) -> None:
        """Raise if the component cannot take another label now."""

    def _labels_changed(self) -> None:
        """Hook: bring the model and lookups in line with `cfg["labels"]`."""

    def _after_cfg_loaded(self) -> None:
        self._labels_changed()


def dump_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True)
