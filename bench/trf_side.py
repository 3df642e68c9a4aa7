"""One tool's side of the transformer benchmark: bench/parser_side.py's scoring, on a GPU if asked.

    python bench/trf_side.py {archcli|spacy} MODEL DEV.spacy [--gpu-id N]

Runs under either tool's python. The scoring and timing are parser_side.py's (gold tokens, each
tool's own scorer, one warm-up batch, one timed `nlp.pipe(batch_size=1000)` pass); this wrapper
only moves the pipeline to GPU N first (thinc's `require_gpu` must run before the model is loaded)
and records the torch threads and versions the process actually ran with.
"""
import argparse
import json
import resource
import sys
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import parser_side  # noqa: E402

KEEP = ("tag_acc", "dep_uas", "dep_las", "sents_f", "speed")
PACKAGES = {"spacy": ("spacy", "spacy-transformers", "thinc", "transformers", "torch"),
            "archcli": ("archcli", "thinc", "transformers", "torch")}


def versions(tool: str) -> dict:
    found = {}
    for name in PACKAGES[tool]:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tool", choices=("archcli", "spacy"))
    parser.add_argument("model")
    parser.add_argument("data")
    parser.add_argument("--gpu-id", type=int, default=-1)
    args = parser.parse_args()
    if args.gpu_id >= 0:
        from thinc.api import require_gpu  # both tools build on thinc; spacy.require_gpu is this call

        require_gpu(args.gpu_id)
    run = parser_side.run_spacy if args.tool == "spacy" else parser_side.run_archcli
    result = run(args.model, args.data)
    out = {k: result[k] for k in KEEP if result.get(k) is not None}
    out.update(peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               versions=versions(args.tool), gpu_id=args.gpu_id)
    torch = sys.modules.get("torch")  # asked only if the pipeline imported it (a CNN may not)
    out["torch_threads"] = torch.get_num_threads() if torch is not None else None
    print(json.dumps(out))


if __name__ == "__main__":
    main()
