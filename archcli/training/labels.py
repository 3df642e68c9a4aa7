"""`spacy.read_labels.v1`: a component's labels from a JSON file (as `spacy init labels` writes
them), so `[initialize.components.NAME] labels` need not read the whole corpus to find them."""
from pathlib import Path
from typing import Any, Optional, Union

from .._registry import registry
from ..errors import ConfigError
from ..fileio import read_json


@registry.readers("spacy.read_labels.v1")
def read_labels(path: Union[str, Path], *, require: bool = False) -> Optional[Any]:
    """The file's labels (a list, or the parser's {move: {label: count}}); a missing file is None
    (the component then learns its labels from the data) unless `require`."""
    path = Path(path)
    if not path.exists():
        if require:
            raise ConfigError("labels file does not exist (write it with `spacy init labels`)", where=str(path))
        return None
    labels = read_json(path, error=ConfigError)
    if not isinstance(labels, (list, dict)):
        raise ConfigError("a labels file holds a JSON list of labels (or the parser's moves)", where=str(path))
    return labels
