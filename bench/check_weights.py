"""Load a spaCy-trained component's weights into archcli's model and compare their outputs.

    python bench/check_weights.py SPACY_MODEL ARCHCLI_MODEL COMPONENT DATA.spacy
                                  [--n-docs 200] [--batch-size 64] [--spacy-python PATH]

Both pipelines must come from the same config (e.g. one `train` run of each tool, as the
benchmarks make). The spaCy side runs in spaCy's venv (this file's `spacy-side` command): it
saves the component model's parameters and its `predict` output on the first N docs of DATA,
built from the gold words (the components before it, e.g. a shared tok2vec its listener reads,
run first; their weights are copied too). This side copies the parameters into archcli's models
(matched by layer name, then by order of appearance within that name: the tools nest chains
differently but build the same layers) and predicts the same docs. Same architecture, same features and
the same weights should give the same outputs to float tolerance; the script prints the
largest difference and exits 1 when it is above `--tolerance`.

Works for components whose model maps docs to arrays: tok2vec, tagger, textcat,
textcat_multilabel.
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Sequence

import numpy

ROOT = Path(__file__).resolve().parents[1]


def ordered_param_nodes(model: Any) -> List[Any]:
    """Layers with parameters, sorted by name and then by position in a walk of the model."""
    nodes = [(node.name, i, node) for i, node in enumerate(model.walk()) if node.param_names]
    return [node for _, _, node in sorted(nodes, key=lambda item: (item[0], item[1]))]


def upstream(pipe_names: Sequence[str], component: str) -> List[str]:
    """The pipeline's components up to and including `component`."""
    if component not in pipe_names:
        raise SystemExit(f"no component '{component}' in the pipeline ({', '.join(pipe_names)})")
    return list(pipe_names[: list(pipe_names).index(component) + 1])


def as_arrays(output: Any) -> List[numpy.ndarray]:
    """A predict output (array, list of arrays, Ragged) as a list of float arrays."""
    if hasattr(output, "dataXd"):
        return [numpy.asarray(output.dataXd)]
    if isinstance(output, (list, tuple)):
        return [numpy.asarray(x) for x in output]
    return [numpy.asarray(output)]


def spacy_side(model_path: str, component: str, data: str, n_docs: int, batch_size: int, out: str) -> None:
    import spacy
    from spacy.tokens import Doc, DocBin

    nlp = spacy.load(model_path)
    gold = list(DocBin().from_disk(data).get_docs(nlp.vocab))[:n_docs]
    docs = [Doc(nlp.vocab, words=[t.text for t in g], spaces=[bool(t.whitespace_) for t in g]) for g in gold]
    arrays: Dict[str, numpy.ndarray] = {}
    for pipe_name in upstream(nlp.pipe_names, component):
        pipe = nlp.get_pipe(pipe_name)
        for k, node in enumerate(ordered_param_nodes(pipe.model)):
            for name in node.param_names:
                arrays[f"param/{pipe_name}/{k}/{node.name}/{name}"] = pipe.model.ops.to_numpy(node.get_param(name))
        if pipe_name != component:
            docs = list(pipe.pipe(docs))
    model = nlp.get_pipe(component).model
    outputs = []
    for start in range(0, len(docs), batch_size):
        outputs.extend(as_arrays(model.predict(docs[start : start + batch_size])))
    for i, array in enumerate(outputs):
        arrays[f"output/{i}"] = array
    numpy.savez(out, **arrays)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("spacy_model")
    parser.add_argument("archcli_model")
    parser.add_argument("component")
    parser.add_argument("data")
    parser.add_argument("--n-docs", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--spacy-python", default="/work/spacy-venv/bin/python")
    args = parser.parse_args(argv)

    from archcli.language import load
    from archcli.tokens import Doc
    from archcli.tokens.docbin import read_docbin

    with tempfile.TemporaryDirectory() as tmp:
        dump = str(Path(tmp) / "spacy.npz")
        subprocess.run([args.spacy_python, __file__, "spacy-side", args.spacy_model, args.component, args.data,
                        str(args.n_docs), str(args.batch_size), dump], check=True)
        theirs = dict(numpy.load(dump))
    nlp = load(args.archcli_model)
    n_params, n_layers = 0, 0
    for pipe_name in upstream(nlp.pipe_names, args.component):
        n_params += copy_params(nlp.get_pipe(pipe_name).model, theirs, f"param/{pipe_name}")
        n_layers += len(ordered_param_nodes(nlp.get_pipe(pipe_name).model))
    left = [key for key in theirs if key.startswith("param/")]
    if left:
        raise SystemExit(f"parameters only spaCy's model has: {left[:5]}")
    gold = list(read_docbin(args.data, nlp.vocab))[: args.n_docs]
    docs = [Doc(nlp.vocab, [t.text for t in g], [bool(t.whitespace_) for t in g]) for g in gold]
    for pipe_name in upstream(nlp.pipe_names, args.component)[:-1]:
        docs = list(nlp.get_pipe(pipe_name).pipe(docs))
    model = nlp.get_pipe(args.component).model
    ours: List[numpy.ndarray] = []
    for start in range(0, len(docs), args.batch_size):
        ours.extend(as_arrays(model.predict(docs[start : start + args.batch_size])))
    outputs = [theirs[f"output/{i}"] for i in range(len(ours))]
    diffs = [float(numpy.abs(model.ops.to_numpy(a) - b).max()) if a.size else 0.0 for a, b in zip(ours, outputs)]
    report = {"component": args.component, "docs": len(docs), "parameters": n_params, "layers": n_layers,
              "max_abs_diff": max(diffs), "max_abs_output": max(float(numpy.abs(b).max()) for b in outputs if b.size),
              "outputs_over_tolerance": sum(d > args.tolerance for d in diffs), "outputs": len(diffs)}
    print(json.dumps(report))
    return int(report["max_abs_diff"] > args.tolerance)


def copy_params(model: Any, theirs: Dict[str, numpy.ndarray], prefix: str) -> int:
    """Set `model`'s parameters from spaCy's arrays under `prefix` (popped); the number of weights."""
    n_params = 0
    for k, node in enumerate(ordered_param_nodes(model)):
        for name in node.param_names:
            key = f"{prefix}/{k}/{node.name}/{name}"
            if key not in theirs:
                raise SystemExit(f"spaCy's model has no parameter {key}: the layers differ")
            value = theirs.pop(key)
            target = node.get_param(name).shape
            if node.name == "sparse_linear" and name == "W" and len(target) == 1 and value.size > target[0]:
                # archcli's CompactSparseLinear keeps only the weights thinc's layer can reach: the first ones.
                value = value[: target[0]]
            if value.shape != target:
                raise SystemExit(f"{key}: spaCy {value.shape} vs archcli {node.get_param(name).shape}")
            node.set_param(name, model.ops.asarray(value.copy()))
            n_params += value.size
    return n_params


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "spacy-side":
        model_path, component, data, n_docs, batch_size, out = sys.argv[2:8]
        spacy_side(model_path, component, data, int(n_docs), int(batch_size), out)
    else:
        sys.exit(main(sys.argv[1:]))
