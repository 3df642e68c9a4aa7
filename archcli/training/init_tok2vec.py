"""Loading pretrained tok2vec weights (`[initialize] init_tok2vec`) and finding the layer they fit.

`archcli pretrain` writes the `to_bytes()` of one layer (`[pretraining] component` / `layer`);
`archcli train` loads that file into the same layer after initialising the pipeline. The file's
layer tree and parameter shapes are checked against the model's first, so a file from another
architecture or width fails with both shapes named, and never half-loads.
"""
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import srsly
from thinc.api import Model

from ..errors import ArchcliError, ConfigError

# One entry per node of a model, in walk() order: (name, {param: shape or None}).
Layout = List[Tuple[str, Dict[str, Optional[Tuple[int, ...]]]]]


def get_tok2vec_ref(nlp, component: Optional[str], layer: str = "") -> Model:
    """The layer `[pretraining] component/layer` names; a listener stands for its upstream model."""
    from ..ml.listener import Tok2VecListener
    from ..pipeline.tok2vec import Tok2Vec

    if not component:
        raise ConfigError("name the component whose tok2vec layer is pretrained (e.g. \"tok2vec\")",
                          where="pretraining.component")
    if not nlp.has_pipe(component):
        raise ConfigError(f"no component named '{component}' in the pipeline; it has: {', '.join(nlp.pipe_names)}",
                          where="pretraining.component")
    model = getattr(nlp.get_pipe(component), "model", None)
    if not isinstance(model, Model):
        raise ConfigError(f"component '{component}' has no model to pretrain", where="pretraining.component")
    if layer:
        if not model.has_ref(layer):
            known = ", ".join(f"'{name}'" for name in model.ref_names) or "none"
            raise ConfigError(f"the model of component '{component}' has no layer '{layer}' "
                              f"(its named layers: {known}; \"\" selects the whole model)", where="pretraining.layer")
        model = model.get_ref(layer)
    if isinstance(model, Tok2VecListener):
        upstream = model.upstream_name
        if upstream == "*":
            upstream = next((n for n, p in nlp.components if isinstance(p, Tok2Vec)), "tok2vec")
        if not nlp.has_pipe(upstream):
            raise ConfigError(f"'{component}' listens to tok2vec component '{upstream}', which is not in the "
                              "pipeline", where="pretraining.component")
        model = nlp.get_pipe(upstream).model
    return model


def model_layout(model: Model) -> Layout:
    layout: Layout = []
    for node in model.walk():
        shapes = {name: (tuple(node.get_param(name).shape) if node.has_param(name) else None)
                  for name in node.param_names}
        layout.append((node.name, shapes))
    return layout


def bytes_layout(data: bytes, where: str) -> Tuple[Layout, Optional[int]]:
    """The layout (and output width) of a `Model.to_bytes()` payload, without loading it."""
    try:
        msg = srsly.msgpack_loads(data)
    except (ValueError, TypeError):  # what msgpack raises for bytes that are not msgpack
        msg = None
    if not isinstance(msg, dict) or not isinstance(msg.get("nodes"), list) or "params" not in msg:
        raise ArchcliError("not a weights file written by `archcli pretrain` (a thinc Model.to_bytes() "
                           "payload)", where=where)
    layout: Layout = []
    for node, params in zip(msg["nodes"], msg["params"]):
        shapes = {name: (tuple(value.shape) if hasattr(value, "shape") else None) for name, value in params.items()}
        layout.append((str(node.get("name")), shapes))
    width = (msg["nodes"][0].get("dims") or {}).get("nO") if msg["nodes"] else None
    return layout, width


def check_weights_fit(model: Model, data: bytes, *, where: str, target: str) -> None:
    """Raise, naming both shapes, unless `data` has the layer tree and parameter shapes of `model`."""
    file_layout, file_width = bytes_layout(data, where)
    layout = model_layout(model)
    width = model.get_dim("nO") if model.has_dim("nO") else None
    problem = _first_difference(file_layout, layout)
    if problem is None:
        return
    raise ArchcliError(
        f"these weights were pretrained for a different architecture: the file holds "
        f"{_describe(file_layout, file_width)}, but {target} is {_describe(layout, width)}; {problem}. "
        "Pretrain and train with the same tok2vec settings (ideally the same config)",
        where=where,
    )


def load_pretrained_tok2vec(nlp, weights_path: Union[str, Path], config: Dict[str, Any]) -> Model:
    """Load `weights_path` into the layer that `[pretraining] component/layer` names."""
    path = Path(weights_path)
    if not path.is_file():
        what = "is a directory, not a weights file" if path.is_dir() else "not found"
        raise ConfigError(f"init_tok2vec weights file {what}: {path}", where="initialize.init_tok2vec")
    pretrain_cfg = config.get("pretraining", {}) or {}
    component = pretrain_cfg.get("component", "tok2vec")
    layer = pretrain_cfg.get("layer", "") or ""
    model = get_tok2vec_ref(nlp, component, layer)
    load_weights(model, path.read_bytes(), where=str(path), target=_target_name(component, layer))
    from wasabi import msg

    msg.good(f"Loaded pretrained tok2vec weights from {path} into {_target_name(component, layer)}")
    return model


def load_weights(model: Model, data: bytes, *, where: str, target: str) -> None:
    check_weights_fit(model, data, where=where, target=target)
    model.from_bytes(data)  # the layout matches, so a failure here is a bug


def _target_name(component: str, layer: str) -> str:
    return f"the tok2vec of component '{component}'" + (f" (layer '{layer}')" if layer else "")


def _describe(layout: Layout, width: Optional[int]) -> str:
    n_params = sum(1 for _, shapes in layout for shape in shapes.values() if shape is not None)
    text = f"a model of {len(layout)} layers and {n_params} weight arrays"
    return text + (f", output width {width}" if width is not None else "")


def _first_difference(file_layout: Layout, layout: Layout) -> Optional[str]:
    for i, ((file_name, file_shapes), (name, shapes)) in enumerate(zip(file_layout, layout)):
        if file_name != name:
            a, b = _differing_parts(file_name, name)
            return f"layer {i} is '{a}' in the file but '{b}' in the model"
        for param in sorted(set(file_shapes) | set(shapes)):
            a, b = file_shapes.get(param), shapes.get(param)
            if a is not None and b is not None and a != b:
                return f"layer {i} ('{_short(name)}') parameter {param} has shape {a} in the file but {b} in the model"
            if (param in file_shapes) != (param in shapes):
                return f"layer {i} ('{_short(name)}') parameter {param} is only in the {'file' if b is None else 'model'}"
    if len(file_layout) != len(layout):
        return f"the file has {len(file_layout)} layers, the model {len(layout)}"
    return None


def _differing_parts(a: str, b: str, context: int = 25) -> Tuple[str, str]:
    """Two long layer names cut to the stretch where they first differ."""
    start = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    lo = max(start - context, 0)
    cut = lambda text: ("…" if lo else "") + text[lo : start + context] + ("…" if len(text) > start + context else "")
    return cut(a), cut(b)


def _short(name: str, limit: int = 60) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"
