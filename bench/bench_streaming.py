"""Streaming benchmark: does peak memory stay flat as the corpus grows? archcli and spaCy 3.8 side by side.

Run with the archcli virtual environment's python, from anywhere:

    python bench/bench_streaming.py [--paragraphs 2000] [--raw-repeats 1,10] [--ud-repeats 1,5]
                                    [--steps 200] [--spacy-python PATH] [--skip-spacy]

1. Pretraining (`pretrain` always streams its raw text): the first `--paragraphs` lines of the shared
   raw text (../shared/corpora/raw_text/litbank_books.jsonl), written 1x and 10x over into one JSONL
   file each; each tool pretrains configs/pretrain_characters.cfg for one epoch over each file.
2. Training (tagger + parser, configs/tagger_parser.cfg): UD English-EWT train converted once to a
   .spacy file (archcli's DocBin, 10 sentences per doc), and a directory holding it 1x and 5x (copies);
   each tool trains `--steps` steps on each, with `training.max_epochs = 0` (the corpus loaded into
   memory, reshuffled each epoch) and `-1` (streamed: read lazily each epoch; archcli shuffles within
   a buffer of 1,000 examples, spaCy does not shuffle). Dev is EWT dev, evaluated at the last step.
   In streaming mode spaCy initialises from the first 100 examples only, so without label files it
   fails on EWT (a tag unseen in them: KeyError); streaming runs of both tools therefore use the
   config plus `[initialize.components.tagger/parser] labels` from `spacy init labels`
   (`spacy.read_labels.v1`), which is what spaCy's docs prescribe.
3. Every run is its own process (one BLAS thread); peak RSS is its `ru_maxrss`. Prints a table
   (peak RSS per size, and the ratio largest/smallest) and writes JSON (bench/results/streaming.json).
"""
import argparse
import json
import os
import platform
import shutil
import sys
from pathlib import Path
from typing import Any, Dict, List, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from blas_threads import blas_settings, pin_one_blas_thread  # noqa: E402
from bench_pretrain import log, rel, run, spacy_python  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "corpora"
RAW_TEXT = SHARED / "raw_text" / "litbank_books.jsonl"
UD = SHARED / "ud_en_ewt"
WORK = ROOT / "bench" / "work" / "streaming"
PRETRAIN_CFG = ROOT / "configs" / "pretrain_characters.cfg"
TRAIN_CFG = ROOT / "configs" / "tagger_parser.cfg"
TOOLS = ("archcli", "spacy")


def repeated_raw_text(n_paragraphs: int, repeats: int) -> Dict[str, Any]:
    dest = WORK / f"raw_{n_paragraphs}x{repeats}.jsonl"
    with open(RAW_TEXT, encoding="utf8") as src:
        lines = [line for _, line in zip(range(n_paragraphs), src)]
    if not dest.exists():
        with open(dest, "w", encoding="utf8") as out:
            for _ in range(repeats):
                out.writelines(lines)
    return {"path": dest, "paragraphs": len(lines) * repeats, "mib": round(dest.stat().st_size / 2**20, 1)}


def repeated_ud(repeats: int) -> Dict[str, Any]:
    single = WORK / "ewt_train.spacy"
    if not single.exists():
        sys.path.insert(0, str(ROOT))
        from archcli.tokens import DocBin, Vocab
        from archcli.training import read_conllu

        doc_bin = DocBin()
        for doc, _ in read_conllu(UD / "train.conllu", Vocab(), n_sents=10):
            doc_bin.add(doc)
        doc_bin.to_disk(single)
    folder = WORK / f"ewt_train_x{repeats}"
    if not folder.exists():
        folder.mkdir(parents=True)
        for i in range(repeats):
            shutil.copyfile(single, folder / f"part{i}.spacy")
    dev = WORK / "ewt_dev.spacy"
    if not dev.exists():
        from archcli.tokens import DocBin, Vocab
        from archcli.training import read_conllu

        doc_bin = DocBin()
        for doc, _ in read_conllu(UD / "dev.conllu", Vocab(), n_sents=10):
            doc_bin.add(doc)
        doc_bin.to_disk(dev)
    return {"path": folder, "dev": dev, "mib": round(sum(p.stat().st_size for p in folder.iterdir()) / 2**20, 1)}


def labels_config(python: str, ud: Dict[str, Any]) -> Path:
    """TRAIN_CFG plus label files for tagger and parser (written by `spacy init labels`, or by
    archcli's own label collection when spaCy is skipped)."""
    labels_dir = WORK / "labels"
    if not (labels_dir / "parser.json").exists():
        if python:
            run([python, "-m", "spacy", "init", "labels", TRAIN_CFG, labels_dir, "--paths.train", WORK / "ewt_train.spacy",
                 "--paths.dev", ud["dev"]], WORK / "logs" / "spacy_init_labels.log")
        else:
            sys.path.insert(0, str(ROOT))
            from archcli.config import load_config
            from archcli.language import Pipeline
            from archcli.training import Corpus

            nlp = Pipeline.from_config(load_config(TRAIN_CFG))
            examples = list(Corpus(WORK / "ewt_train.spacy")(nlp))
            labels_dir.mkdir(parents=True, exist_ok=True)
            for name in ("tagger", "parser"):
                labels = nlp.get_pipe(name).collect_labels(examples) if name == "parser" else sorted(
                    {t for eg in examples for t in eg.reference.get_strings("tag") if t})
                (labels_dir / f"{name}.json").write_text(json.dumps(labels), encoding="utf8")
    config = WORK / "tagger_parser_labels.cfg"
    text = TRAIN_CFG.read_text(encoding="utf8")
    for name in ("tagger", "parser"):
        text += (f'\n[initialize.components.{name}]\nlabels = {{"@readers":"spacy.read_labels.v1",'
                 f'"path":"{labels_dir / (name + ".json")}","require":true}}\n')
    config.write_text(text, encoding="utf8")
    return config


def tool_cmd(tool: str, python: str) -> List[Any]:
    return [sys.executable if tool == "archcli" else python, "-m", "archcli" if tool == "archcli" else "spacy"]


def pretrain_run(tool: str, python: str, raw: Dict[str, Any], repeats: int) -> Dict[str, Any]:
    out = WORK / f"pretrain_{tool}_x{repeats}"
    if out.exists():
        shutil.rmtree(out)
    cmd = tool_cmd(tool, python) + ["pretrain", PRETRAIN_CFG, out, "--paths.raw_text", raw["path"],
                                    "--pretraining.max_epochs", "1"]
    log(f"pretrain {tool} x{repeats} ({raw['paragraphs']} paragraphs, {raw['mib']} MiB)")
    measured = run(cmd, WORK / "logs" / f"pretrain_{tool}_x{repeats}.log")
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text(encoding="utf8").splitlines()]
    words = rows[-1]["nr_word"]
    result = dict(measured, words=words, words_per_s=round(words / measured["wall_s"], 1))
    log(f"  peak RSS {measured['peak_rss_mib']} MiB, {words} words in {measured['wall_s']} s")
    return result


def train_run(tool: str, python: str, ud: Dict[str, Any], repeats: int, mode: str, steps: int) -> Dict[str, Any]:
    out = WORK / f"train_{tool}_{mode}_x{repeats}"
    if out.exists():
        shutil.rmtree(out)
    max_epochs = "-1" if mode == "stream" else "0"
    config = labels_config(python, ud) if mode == "stream" else TRAIN_CFG
    cmd = tool_cmd(tool, python) + ["train", config, "--output", out, "--paths.train", ud["path"],
                                    "--paths.dev", ud["dev"], "--training.max_steps", str(steps),
                                    "--training.eval_frequency", str(steps), "--training.patience", "0",
                                    "--training.max_epochs", max_epochs, "--system.seed", "0"]
    if tool == "archcli":
        cmd += ["--training.logger.progress_bar", "false"]
    log(f"train {tool} {mode} x{repeats} ({ud['mib']} MiB of .spacy)")
    measured = run(cmd, WORK / "logs" / f"train_{tool}_{mode}_x{repeats}.log")
    meta = json.loads((out / "model-last" / "meta.json").read_text(encoding="utf8"))
    scores = meta.get("performance", {})
    result = dict(measured, tag_acc=scores.get("tag_acc"), dep_las=scores.get("dep_las"))
    log(f"  peak RSS {measured['peak_rss_mib']} MiB, wall {measured['wall_s']} s, "
        f"tag_acc {result['tag_acc']}, LAS {result['dep_las']}")
    return result


def table(result: Dict[str, Any]) -> str:
    lines = []
    for job, sizes in (("pretrain", result["settings"]["raw_repeats"]), ("train", result["settings"]["ud_repeats"])):
        for key, runs in result[job].items():
            cells = [f"{runs[str(n)]['peak_rss_mib']:>8.0f}" if str(n) in runs else f"{'-':>8}" for n in sizes]
            first, last = runs.get(str(sizes[0])), runs.get(str(sizes[-1]))
            ratio = f"{last['peak_rss_mib'] / first['peak_rss_mib']:.2f}x" if first and last else "-"
            walls = "/".join(f"{runs[str(n)]['wall_s']:.0f}" for n in sizes if str(n) in runs)
            lines.append(f"{job:9} {key:16} " + " ".join(cells) + f" {ratio:>8}   {walls}")
    header_sizes = " ".join(f"{'x' + str(n):>8}" for n in result["settings"]["raw_repeats"])
    train_sizes = " ".join(f"{'x' + str(n):>8}" for n in result["settings"]["ud_repeats"])
    head = (f"peak RSS (MiB) by corpus size; ratio = largest / smallest; wall seconds per size\n"
            f"{'job':9} {'tool / mode':16} {header_sizes}    ratio   wall s   (pretrain sizes)\n"
            f"{'':9} {'':16} {train_sizes}             (train sizes)")
    return head + "\n" + "\n".join(lines)


def main(argv: Sequence[str] = ()) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--paragraphs", type=int, default=2000)
    parser.add_argument("--raw-repeats", default="1,10")
    parser.add_argument("--ud-repeats", default="1,5")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--spacy-python", default=None)
    parser.add_argument("--skip-spacy", action="store_true")
    parser.add_argument("--only", choices=("pretrain", "train"), default=None)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "streaming.json")
    args = parser.parse_args(argv or None)
    pin_one_blas_thread()
    WORK.mkdir(parents=True, exist_ok=True)
    raw_repeats = [int(n) for n in args.raw_repeats.split(",")]
    ud_repeats = [int(n) for n in args.ud_repeats.split(",")]
    tools = ("archcli",) if args.skip_spacy else TOOLS
    python = spacy_python(args) if not args.skip_spacy else ""
    result: Dict[str, Any] = {
        "settings": {"paragraphs": args.paragraphs, "raw_repeats": raw_repeats, "ud_repeats": ud_repeats,
                     "steps": args.steps, "pretrain_config": rel(PRETRAIN_CFG), "train_config": rel(TRAIN_CFG),
                     "raw_text": rel(RAW_TEXT), "ud": rel(UD)},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "blas": blas_settings(), "load_avg_at_start": os.getloadavg()},
        "pretrain": {}, "train": {}, "inputs": {},
    }
    if args.only in (None, "pretrain"):
        for n in raw_repeats:
            raw = repeated_raw_text(args.paragraphs, n)
            result["inputs"][f"raw_x{n}"] = {"path": rel(raw["path"]), "paragraphs": raw["paragraphs"], "mib": raw["mib"]}
            for tool in tools:
                result["pretrain"].setdefault(tool, {})[str(n)] = pretrain_run(tool, python, raw, n)
    if args.only in (None, "train"):
        for n in ud_repeats:
            ud = repeated_ud(n)
            result["inputs"][f"ewt_x{n}"] = {"path": rel(ud["path"]), "mib": ud["mib"]}
            for mode in ("load", "stream"):
                for tool in tools:
                    result["train"].setdefault(f"{tool} {mode}", {})[str(n)] = train_run(tool, python, ud, n, mode,
                                                                                          args.steps)
    result["machine"]["load_avg_at_end"] = os.getloadavg()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n", encoding="utf8")
    print(table(result))
    log(f"wrote {rel(args.output)}")


if __name__ == "__main__":
    main()
