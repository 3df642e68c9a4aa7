"""Score a saved pipeline on gold data, read the way its own config reads its dev corpus."""
from pathlib import Path
from typing import Any, Dict, Optional, Union

from thinc.api import Config
from wasabi import msg

from .config import interpolate_config, resolve_block
from .errors import CorpusError, ModelDirError
from .language import load


def evaluate(model_path: Union[str, Path], data_path: Union[str, Path], *, batch_size: Optional[int] = None,
             per_component: bool = False, predictions: Optional[list] = None,
             retokenize: bool = False) -> Dict[str, Any]:
    """Scores of the model on the data (`retokenize`: on each doc's raw text re-tokenised by the
    model, scored through the alignment, as `spacy evaluate`). A model with NaN/inf weights, or data without the
    annotation any component is scored on, is refused (ArchcliError); data lacking one
    component's annotation gets a warning, as that component's scores mean nothing."""
    from .training.loop import missing_annotations, nonfinite_weights

    nlp = load(model_path)
    bad = nonfinite_weights(nlp)
    if bad is not None:
        raise ModelDirError(f"the model has non-finite weights ({bad}): training diverged; "
                            "retrain with a lower learning rate", where=str(model_path))
    data_path = Path(data_path)
    if not data_path.exists():
        raise CorpusError("evaluation data not found", where=str(data_path))
    reader = _dev_reader_block(nlp.config)
    if data_path.suffix == ".spacy" or reader is None:
        reader = {"@readers": "spacy.Corpus.v1"}
    reader = dict(reader)
    reader["path"] = str(data_path)
    corpus = resolve_block({"corpus": reader}, "corpora.dev")["corpus"]
    examples = list(corpus(nlp))
    for _, proc in nlp.pipeline:
        if hasattr(proc, "check_labels"):
            proc.check_labels(examples)
    missing = missing_annotations(nlp, examples)
    if missing and len(missing) == len([name for name, _ in nlp.pipeline if _scored(nlp, name)]):
        raise CorpusError(f"nothing to score: the data {'; and '.join(missing)}", where=str(data_path))
    for line in missing:
        msg.warn(f"The evaluation data {line}: its scores below are meaningless")
    return nlp.evaluate(examples, batch_size=batch_size, per_component=per_component, predictions=predictions,
                        retokenize=retokenize)


def _scored(nlp, name: str) -> bool:
    from .training.loop import ANNOTATIONS

    return nlp.config.get("components", {}).get(name, {}).get("factory") in ANNOTATIONS


def _dev_reader_block(config: Config) -> Optional[Dict[str, Any]]:
    interpolated = interpolate_config(config)
    dotted = interpolated.get("training", {}).get("dev_corpus", "corpora.dev")
    node: Any = interpolated
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return dict(node) if isinstance(node, dict) and "@readers" in node else None
