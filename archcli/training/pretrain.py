"""Loading pretrained tok2vec weights (`[initialize] init_tok2vec`)."""
from pathlib import Path

from thinc.api import Model

from ..errors import ArchcliError, ConfigError


def load_pretrained_tok2vec(nlp, weights_path, config) -> None:
    """Load `weights_path` into the layer that `[pretraining] component/layer` names."""
    path = Path(weights_path)
    if not path.exists():
        raise ConfigError("init_tok2vec weights file not found", where=f"initialize.init_tok2vec ({path})")
    pretrain_cfg = config.get("pretraining", {}) or {}
    component_name = pretrain_cfg.get("component", "tok2vec")
    layer_name = pretrain_cfg.get("layer", "")
    proc = nlp.get_pipe(component_name)
    model: Model = proc.model
    if layer_name:
        if not model.has_ref(layer_name):
            raise ConfigError(f"model of '{component_name}' has no layer '{layer_name}'", where="pretraining.layer")
        model = model.get_ref(layer_name)
    try:
        model.from_bytes(path.read_bytes())
    except (ValueError, KeyError, TypeError) as err:
        raise ArchcliError(
            f"pretrained weights do not fit component '{component_name}': {err}", where=str(path)
        )
