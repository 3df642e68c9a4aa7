"""Entity-linking benchmark: archcli against spaCy 3.8 on LitBank-EL and nel_emerson, same KB, docs, config, steps.

    python bench/bench_el.py [--datasets litbank_el,nel_emerson] [--seeds 0,1,2] [--spacy-python PATH]

Per dataset:
1. Documents. litbank_el: train.jsonl -> train, dev.jsonl -> dev, on LitBank's own tokens (the text is
   its tokens joined by single spaces). nel_emerson: the accepted Prodigy tasks, split as spaCy's
   tutorial (per gold QID the first 8 sentences train, the last 2 test), one sentence per doc. Both are
   written to bench/work/el/DATASET/ as archcli JSONL (`entities: [[start, end, label, kb_id]]`, `sents`)
   and converted once, by archcli's JSONL reader and DocBin, to `.spacy` files that both tools read
   (checked: words, spaces, sentence starts, entities with labels and kb_ids, doc by doc).
2. One KB. `archcli init-kb` builds it (entity vectors from the descriptions with the shared word2vec
   vectors; timed, size on disk); it is dumped through archcli's KB API to a neutral .npz and rebuilt
   as spaCy's InMemoryLookupKB with spaCy's own `add_entity`/`add_alias`/`to_disk` in the spaCy venv
   (bench/el_side_spacy.py), which reloads it and checks every vector, candidate and prior.
3. Training, per seed, each in its own process: archcli and spaCy on configs/entity_linker.cfg with the
   same overrides (paths, max_steps, eval_frequency, patience 0, system.seed); spaCy also on its own
   `spacy init config -p tok2vec,entity_linker` (plus the kb_loader block it lacks). spaCy reads the
   `.spacy` files through `bench.GoldMentionsCorpus.v1` (bench/spacy_hooks.py): gold tokens, gold
   sentence starts and gold mention spans on its predicted docs, which is what archcli's reader gives.
4. Scoring: each model-last links the gold mentions of the eval docs in a fresh process (timed
   `nlp.pipe`), writes its predictions as a DocBin, and archcli's `spacy.entity_linker_scorer.v1`
   scores every tool's predictions (spaCy's own Scorer.score_links is recorded beside, as a check).
   The prior-only baseline, chance and the oracle upper bound are scored on the same mentions.
Prints tables and writes bench/results/el.json. See bench/README.md, "Entity linking".
"""
import argparse
import csv
import hashlib
import json
import os
import re
import shutil
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_tagger import (archcli_step_throughput, check, git_commit, log, rel, run_measured,  # noqa: E402
                          spacy_step_throughput)
from blas_threads import blas_settings, pin_one_blas_thread  # noqa: E402

pin_one_blas_thread()

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
WORK = BENCH / "work" / "el"
SHARED = ROOT.parent / "shared" / "corpora"
SIDE = BENCH / "el_side_spacy.py"
HOOKS = BENCH / "spacy_hooks.py"
CONFIG = "configs/entity_linker.cfg"
VECTORS = SHARED / "vectors" / "word2vec_en_100d.vec.gz"
SCORES = ("nel_micro_p", "nel_micro_r", "nel_micro_f", "nel_acc")
EMERSON_QIDS = ("Q312545", "Q48226", "Q215952")  # the tutorial's order (create_corpus.py)


@dataclass
class Dataset:
    name: str
    eval_split: str  # what the eval docs are called in the report
    max_steps: int
    eval_frequency: int
    why_steps: str


DATASETS = {
    "litbank_el": Dataset("litbank_el", "dev", 2000, 200, "configs/entity_linker.cfg's max_steps"),
    "nel_emerson": Dataset("nel_emerson", "test", 600, 200,
                           "the max_steps of spaCy's own v2 tutorial config (explosion/projects "
                           "tutorials/nel_emerson/configs/nel_v2.cfg), about 600 batches of 1-6 of the 24 sentences"),
}


@dataclass
class Run:
    name: str
    tool: str  # "archcli" or "spacy"
    config: str  # "" = spaCy's own init config, written at start-up
    label: str


RUNS = (
    Run("archcli", "archcli", CONFIG, "archcli"),
    Run("spacy", "spacy", CONFIG, "spaCy (same cfg)"),
    Run("spacy-init", "spacy", "", "spaCy (init cfg)"),
)
COMPARISONS = (("archcli vs spaCy (same cfg)", "archcli", "spacy"),
               ("archcli vs spaCy (init cfg)", "archcli", "spacy-init"))


def python_for(tool: str, args: argparse.Namespace) -> str:
    return args.spacy_python if tool == "spacy" else sys.executable


def spacy_side(args: argparse.Namespace, cmd: Sequence[str], name: str) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Run bench/el_side_spacy.py in the spaCy venv; its JSON answer and the process's measurements."""
    out = WORK / "logs" / f"{name}.json"
    measured = run_measured([args.spacy_python, SIDE, *cmd], WORK / "logs" / f"{name}.log", stdout_path=out)
    check(measured, name)
    return json.loads(out.read_text(encoding="utf8").strip().splitlines()[-1]), asdict(measured)


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --- 1. documents ---------------------------------------------------------------------------
def write_jsonl(path: Path, records: List[Dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf8") as file_:
        for record in records:
            file_.write(json.dumps(record, ensure_ascii=False) + "\n")


def litbank_records(split: str) -> List[Dict[str, Any]]:
    """LitBank-EL records with their own tokens as `words` (the text is those tokens joined by spaces)."""
    records = []
    with open(SHARED / "litbank_el" / f"{split}.jsonl", encoding="utf8") as file_:
        for line in file_:
            record = json.loads(line)
            words = record["text"].split(" ")
            if "" in words:
                sys.exit(f"litbank_el/{split}.jsonl {record['doc']}: the text is not single-space-joined tokens")
            records.append({"doc": record["doc"], "text": record["text"], "words": words,
                            "sents": record["sents"], "entities": record["entities"]})
    return records


def emerson_records() -> Dict[str, List[Dict[str, Any]]]:
    """spaCy's tutorial split: accepted tasks only; per QID, the first 8 train and the last 2 test."""
    tasks = []
    with open(SHARED / "nel_emerson" / "emerson_annotated_text.jsonl", encoding="utf8") as file_:
        for line in file_:
            task = json.loads(line)
            if task["answer"] == "accept":
                span = task["spans"][0]  # one mention per task, as the tutorial assumes
                tasks.append({"text": task["text"], "sents": [[0, len(task["text"])]],
                              "entities": [[span["start"], span["end"], span["label"], task["accept"][0]]]})
    splits: Dict[str, List[Dict[str, Any]]] = {"train": [], "eval": []}
    for qid in EMERSON_QIDS:
        mine = [t for t in tasks if t["entities"][0][3] == qid]
        splits["train"] += mine[0:8]
        splits["eval"] += mine[8:10]
    return splits


def emerson_kb_sources(folder: Path) -> Tuple[Path, Path]:
    """The tutorial's KB: entities.csv, each full name an alias (prior 1), "Emerson" -> all 3 at 0.3."""
    entities = SHARED / "nel_emerson" / "entities.csv"
    with open(entities, encoding="utf8", newline="") as file_:
        rows = [row for row in csv.reader(file_) if row]
    aliases = [{"alias": name, "entities": [qid], "probabilities": [1.0]} for qid, name, _ in rows]
    aliases.append({"alias": "Emerson", "entities": [row[0] for row in rows], "probabilities": [0.3] * len(rows)})
    write_jsonl(folder / "aliases.jsonl", aliases)
    return entities, folder / "aliases.jsonl"


def convert(records: List[Dict[str, Any]], jsonl: Path, target: Path) -> Dict[str, Any]:
    """JSONL -> .spacy through archcli's own JSONL reader (as spacy.Corpus.v1 reads it) and DocBin."""
    from archcli.language import Pipeline
    from archcli.tokens.docbin import DocBin
    from archcli.training.jsonl import read_annotated_jsonl

    write_jsonl(jsonl, records)
    nlp = Pipeline()
    docs = [doc for doc, _ in read_annotated_jsonl(jsonl, nlp)]
    DocBin(docs=docs).to_disk(target)
    n_source = sum(len(r["entities"]) for r in records)
    n_ents = sum(len(d.ents) for d in docs)
    return {"jsonl": rel(jsonl), "spacy": rel(target), "n_docs": len(docs), "n_words": sum(len(d) for d in docs),
            "n_sents": sum(len(d.sents) for d in docs), "n_mentions_in_source": n_source, "n_mentions": n_ents,
            "n_nested_mentions_dropped": n_source - n_ents,
            "n_nil_mentions": sum(e.kb_id_ == "NIL" for d in docs for e in d.ents)}


def archcli_digest(path: Path) -> Dict[str, Any]:
    """What the linker sees of each doc, as archcli reads the file (el_side_spacy.py's digest, in archcli)."""
    from archcli.tokens import Vocab
    from archcli.tokens.docbin import read_docbin

    per_doc = []
    n_words = n_ents = 0
    for doc in read_docbin(path, Vocab()):
        fields = {"words": [t.text for t in doc], "spaces": [bool(t.whitespace_) for t in doc],
                  "sent_starts": [s.start for s in doc.sents],
                  "ents": [[e.start, e.end, e.label_, e.kb_id_] for e in doc.ents]}
        per_doc.append({k: hashlib.sha1(json.dumps(v).encode("utf8")).hexdigest()[:12] for k, v in fields.items()})
        n_words += len(doc)
        n_ents += len(doc.ents)
    return {"n_docs": len(per_doc), "n_words": n_words, "n_ents": n_ents, "per_doc": per_doc}


def compare_digests(a: Dict[str, Any], b: Dict[str, Any]) -> Dict[str, Any]:
    if (a["n_docs"], a["n_words"], a["n_ents"]) != (b["n_docs"], b["n_words"], b["n_ents"]):
        return {"counts": [[a["n_docs"], a["n_words"], a["n_ents"]], [b["n_docs"], b["n_words"], b["n_ents"]]]}
    diffs = {}
    for field in a["per_doc"][0] if a["per_doc"] else ():
        bad = [i for i, (x, y) in enumerate(zip(a["per_doc"], b["per_doc"])) if x[field] != y[field]]
        if bad:
            diffs[field] = {"docs": len(bad), "first_doc": bad[0]}
    return diffs


# --- 2. knowledge base ----------------------------------------------------------------------
def load_archcli_kb(path: Path):
    from archcli.kb import InMemoryLookupKB
    from archcli.tokens import Vocab

    width = json.loads((path / "kb.json").read_text(encoding="utf8"))["entity_vector_length"]
    kb = InMemoryLookupKB(Vocab(), width)
    kb.from_disk(path)
    return kb


def dump_kb(kb_dir: Path, out: Path) -> Dict[str, Any]:
    """archcli's KB as plain arrays for the spaCy venv: ids in row order, freqs, vectors, aliases, CSR candidates."""
    import numpy

    kb = load_archcli_kb(kb_dir)
    ids = kb.get_entity_strings()
    rows = kb.entity_rows(ids)
    by_row = [""] * len(ids)
    for entity, row in zip(ids, rows.tolist()):
        by_row[row] = entity
    aliases = kb.get_alias_strings()
    lengths, cand_rows, priors = kb.alias_candidates_arrays(aliases)
    numpy.savez(out, entity_ids=numpy.asarray(by_row), freqs=numpy.asarray(kb.freqs, dtype="float32"),
                vectors=numpy.asarray(kb.vectors, dtype="float32"), aliases=numpy.asarray(aliases),
                cand_lengths=lengths, cand_rows=cand_rows, cand_priors=priors)
    return {"n_entities": len(ids), "n_aliases": len(aliases), "n_candidates": int(lengths.sum()),
            "max_candidates": int(lengths.max()) if len(aliases) else 0,
            "ambiguous_aliases": int((lengths > 1).sum()), "entity_vector_length": kb.entity_vector_length}


def build_kbs(ds: Dataset, args: argparse.Namespace, folder: Path) -> Dict[str, Any]:
    if ds.name == "litbank_el":
        entities, aliases = SHARED / "litbank_el" / "kb_entities.jsonl", SHARED / "litbank_el" / "kb_aliases.jsonl"
    else:
        entities, aliases = emerson_kb_sources(folder)
    archcli_kb, spacy_kb = folder / "kb_archcli", folder / "kb_spacy"
    for path in (archcli_kb, spacy_kb):
        shutil.rmtree(path, ignore_errors=True)
    cmd = [sys.executable, "-m", "archcli", "init-kb", entities, rel(archcli_kb), "--aliases", aliases,
           "--vectors", VECTORS] + (["--no-center"] if args.no_center else [])
    log(f"{ds.name}: archcli init-kb -> {rel(archcli_kb)}")
    measured = run_measured(cmd, WORK / "logs" / f"init_kb_{ds.name}.log")
    check(measured, f"archcli init-kb ({ds.name})")
    info: Dict[str, Any] = {"sources": {"entities": str(entities), "aliases": str(aliases), "vectors": str(VECTORS)},
                            "archcli": {"command": " ".join(str(c) for c in cmd), "process": asdict(measured),
                                        "size_bytes": dir_size(archcli_kb), "path": rel(archcli_kb)}}
    start = time.perf_counter()
    load_archcli_kb(archcli_kb)
    info["archcli"]["load_s"] = time.perf_counter() - start
    dump = folder / "kb_dump.npz"
    info["archcli"].update(dump_kb(archcli_kb, dump))
    log(f"{ds.name}: exporting the KB to spaCy's InMemoryLookupKB ({rel(spacy_kb)})")
    answer, process = spacy_side(args, ["export-kb", "--dump", rel(dump), "--out", rel(spacy_kb)],
                                 f"export_kb_{ds.name}")
    if answer["n_problems"]:
        sys.exit(f"spaCy's KB differs from archcli's ({ds.name}): {answer['problems']}")
    info["spacy"] = dict(answer, process=process, path=rel(spacy_kb))
    return info


# --- 3. baselines on the eval mentions ------------------------------------------------------
def baselines(kb_dir: Path, gold_path: Path) -> Dict[str, Any]:
    """Prior-only, chance (expected values) and oracle, scored like the linkers on the same mentions.

    prior: the candidate with the highest prior (the first listed on ties), NIL without candidates.
    chance: one candidate uniformly at random; its expected nel_acc and micro P/R/F are exact, since
      with no NIL among the candidates the predicted and gold positive counts are fixed and P, R and
      F = 2tp / (n_pred + n_gold) are linear in tp.
    oracle: the gold id when it is a candidate, NIL without candidates, else (gold NIL or not among
      them) the highest-prior candidate: the best a linker that always picks a candidate can do.
    """
    from archcli.scoring import score_links
    from archcli.tokens import Span, Vocab
    from archcli.tokens.docbin import read_docbin
    from archcli.tokens.example import Example

    kb = load_archcli_kb(kb_dir)
    gold = list(read_docbin(gold_path, Vocab()))
    rules = ("prior", "oracle")
    predicted: Dict[str, List[Any]] = {rule: [] for rule in rules}
    tp = n_pred = n_gold = 0.0
    acc = 0.0
    n_mentions = n_with_candidates = n_ambiguous = 0
    for doc in gold:
        per_rule: Dict[str, List[Any]] = {rule: [] for rule in rules}
        pred_docs = {rule: doc.copy(annotations=False) for rule in rules}
        for ent in doc.ents:
            cands = kb.get_alias_candidates(ent.text)
            ids = [c.entity_ for c in cands]
            n_mentions += 1
            n_with_candidates += bool(ids)
            n_ambiguous += len(ids) > 1
            best = max(cands, key=lambda c: c.prior_prob).entity_ if cands else "NIL"
            choice = {"prior": best, "oracle": ent.kb_id_ if ent.kb_id_ in ids else best}
            for rule in rules:
                per_rule[rule].append(Span(pred_docs[rule], ent.start, ent.end, label=ent.label_, kb_id=choice[rule]))
            gold_pos = ent.kb_id_ not in ("NIL", "")
            if ids:
                p_right = (1.0 / len(ids)) if ent.kb_id_ in ids else 0.0
                n_pred += 1
                tp += p_right if gold_pos else 0.0
                acc += p_right
            else:
                acc += not gold_pos
            n_gold += gold_pos
        for rule in rules:
            pred_docs[rule].ents = per_rule[rule]
            predicted[rule].append(pred_docs[rule])
    out: Dict[str, Any] = {"n_mentions": n_mentions, "n_with_candidates": n_with_candidates,
                           "n_ambiguous": n_ambiguous}
    for rule in rules:
        scores = score_links([Example(p, g) for p, g in zip(predicted[rule], gold)])
        out[rule] = {k: scores[k] for k in SCORES}
    # Chance: F counts only gold positives whose mention is predicted (all are: gold mentions are given);
    # a predicted NIL against a gold id is an fn, a candidate against gold NIL an fp.
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    out["chance"] = {"nel_micro_p": precision, "nel_micro_r": recall,
                     "nel_micro_f": 2 * tp / (n_pred + n_gold) if n_pred + n_gold else 0.0,
                     "nel_acc": acc / n_mentions if n_mentions else 0.0}
    return out


def litbank_readme_check(kb_dir: Path) -> Dict[str, Any]:
    """The dev baselines of litbank_el/README.md, recomputed on ALL dev mentions (nested ones too) with
    this KB: they must match the README if init-kb kept every alias, candidate and prior."""
    kb = load_archcli_kb(kb_dir)
    n = prior = chance = oracle = 0.0
    with open(SHARED / "litbank_el" / "dev.jsonl", encoding="utf8") as file_:
        for line in file_:
            record = json.loads(line)
            for start, end, _, kb_id in record["entities"]:
                cands = kb.get_alias_candidates(record["text"][start:end])
                ids = [c.entity_ for c in cands]
                best = max(cands, key=lambda c: c.prior_prob).entity_ if cands else "NIL"
                n += 1
                prior += best == kb_id
                chance += (1.0 / len(ids) if kb_id in ids else 0.0) if ids else kb_id == "NIL"
                oracle += kb_id in ids or (not ids and kb_id == "NIL")
    return {"n_mentions": int(n), "prior_acc": prior / n, "chance_acc": chance / n, "oracle_acc": oracle / n,
            "readme": {"n_mentions": 309, "prior_acc": 0.7929, "chance_acc": 0.7351, "oracle_acc": 0.8544}}


# --- 4. training and scoring ----------------------------------------------------------------
def spacy_init_config(args: argparse.Namespace) -> Path:
    """spaCy's own `init config -p tok2vec,entity_linker`, plus the kb_loader block it does not write."""
    path = WORK / "spacy_init_entity_linker.cfg"
    path.parent.mkdir(parents=True, exist_ok=True)
    result = run_measured([args.spacy_python, "-m", "spacy", "init", "config", "-p", "tok2vec,entity_linker",
                           "--force", rel(path)], WORK / "logs" / "spacy_init_config.log")
    check(result, "spacy init config -p tok2vec,entity_linker")
    text = path.read_text(encoding="utf8")
    if "kb_loader" not in text:
        if "[paths]\n" not in text:
            sys.exit(f"{rel(path)}: no [paths] section to add paths.kb to")
        text = text.replace("[paths]\n", "[paths]\nkb = null\n", 1)
        text = text.rstrip("\n") + ("\n\n# Added by bench/bench_el.py: spaCy's init config writes no KB loader.\n"
                 "[initialize.components.entity_linker]\n\n"
                 "[initialize.components.entity_linker.kb_loader]\n"
                 "@misc = \"spacy.KBFromFile.v1\"\nkb_path = ${paths.kb}\n")
        path.write_text(text, encoding="utf8")
    return path


def overrides(run: Run, ds: Dataset, seed: int, files: Dict[str, Path], kb: Path) -> List[str]:
    flags = ["--paths.train", rel(files["train"]), "--paths.dev", rel(files["eval"]), "--paths.kb", rel(kb),
             "--training.max_steps", str(ds.max_steps), "--training.eval_frequency", str(ds.eval_frequency),
             "--training.patience", "0", "--system.seed", str(seed), "--training.logger.progress_bar", "false"]
    if run.tool == "spacy":
        flags += ["--code", rel(HOOKS), "--training.logger.@loggers", "bench.StepClockLogger.v1",
                  "--corpora.train.@readers", "bench.GoldMentionsCorpus.v1",
                  "--corpora.dev.@readers", "bench.GoldMentionsCorpus.v1"]
    return flags


def train(run: Run, ds: Dataset, seed: int, args: argparse.Namespace, files: Dict[str, Path],
          kb: Path) -> Dict[str, Any]:
    out = WORK / ds.name / f"seed{seed}" / run.name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    module = "spacy" if run.tool == "spacy" else "archcli"
    config = run.config or rel(args.spacy_init_config)
    cmd = [python_for(run.tool, args), "-m", module, "train", config, "--output", rel(out),
           *overrides(run, ds, seed, files, kb)]
    log_path = WORK / "logs" / f"train_{ds.name}_seed{seed}_{run.name}.log"
    log(f"{ds.name} seed {seed}: training {run.name} ({ds.max_steps} steps; log: {rel(log_path)})")
    measured = run_measured(cmd, log_path, env={"BENCH_STEP_CLOCK": str(out / "step_clock.json")})
    check(measured, f"{run.name} train ({ds.name}, seed {seed})")
    words, seconds = (spacy_step_throughput if run.tool == "spacy" else archcli_step_throughput)(out, ds.max_steps)
    result = {"command": " ".join(str(c) for c in cmd), "process": asdict(measured), "step_words": words,
              "step_seconds": round(seconds, 2), "words_per_second": words / seconds if seconds else 0.0}
    log(f"{run.name}: {words} words in {seconds:.1f}s of steps -> {result['words_per_second']:.0f} words/s; "
        f"process {measured.wall_s:.0f}s wall, peak RSS {measured.peak_rss_mib:.0f} MiB")
    return result


def predict(run: Run, ds: Dataset, seed: int, args: argparse.Namespace, gold: Path) -> Dict[str, Any]:
    model = WORK / ds.name / f"seed{seed}" / run.name / "model-last"
    pred = WORK / ds.name / f"seed{seed}" / f"pred_{run.name}.spacy"
    name = f"predict_{ds.name}_seed{seed}_{run.name}"
    common = ["--model", rel(model), "--gold", rel(gold), "--out", rel(pred), "--repeats", str(args.repeats),
              "--seed", str(seed)]
    if run.tool == "spacy":
        answer, process = spacy_side(args, ["predict", *common], name)
    else:
        out = WORK / "logs" / f"{name}.json"
        measured = run_measured([sys.executable, Path(__file__), "_predict", *common], WORK / "logs" / f"{name}.log",
                                stdout_path=out)
        check(measured, name)
        answer, process = json.loads(out.read_text(encoding="utf8").strip().splitlines()[-1]), asdict(measured)
    answer["process"] = process
    return answer


def score_predictions(pred: Path, gold: Path) -> Dict[str, Any]:
    """archcli's spacy.entity_linker_scorer.v1 on a predictions DocBin (written by either tool)."""
    from archcli._registry import registry
    from archcli.tokens import Vocab
    from archcli.tokens.docbin import read_docbin
    from archcli.tokens.example import Example

    vocab = Vocab()
    gold_docs = list(read_docbin(gold, vocab))
    pred_docs = list(read_docbin(pred, vocab))
    if len(gold_docs) != len(pred_docs):
        sys.exit(f"{rel(pred)}: {len(pred_docs)} docs for {len(gold_docs)} gold docs")
    for p, g in zip(pred_docs, gold_docs):
        if [(e.start, e.end) for e in p.ents] != [(e.start, e.end) for e in g.ents]:
            sys.exit(f"{rel(pred)}: the predicted mentions are not the gold mentions ({p.text[:60]!r})")
    scorer = registry.scorers.get("spacy.entity_linker_scorer.v1")()
    scores = scorer([Example(p, g) for p, g in zip(pred_docs, gold_docs)])
    return {k: scores.get(k) for k in SCORES + ("nel_macro_f", "nel_f_per_type")}


def cross_check(args: argparse.Namespace, pred: Path, gold: Path, scores: Dict[str, Any], name: str) -> Dict[str, Any]:
    """spaCy's own Scorer.score_links on the same predictions; a disagreement with archcli's is logged."""
    theirs, _ = spacy_side(args, ["score", "--pred", rel(pred), "--gold", rel(gold)], name)
    worst = max(abs((theirs[k] or 0.0) - (scores[k] or 0.0)) for k in ("nel_micro_p", "nel_micro_r", "nel_micro_f"))
    theirs["max_diff_to_archcli_scorer"] = worst
    if worst > 1e-9:
        log(f"WARNING: spaCy's score_links differs from archcli's scorer by {worst} on {rel(pred)}")
    return theirs


def debug_config(args: argparse.Namespace, files: Dict[str, Path], kb: Path, ds: Dataset) -> Dict[str, Any]:
    """`spacy debug config` on the shared config with spaCy's KB and the spaCy runs' overrides."""
    cmd = [args.spacy_python, "-m", "spacy", "debug", "config", CONFIG, "--paths.train", rel(files["train"]),
           "--paths.dev", rel(files["eval"]), "--paths.kb", rel(kb), "--code", rel(HOOKS),
           "--corpora.train.@readers", "bench.GoldMentionsCorpus.v1", "--corpora.dev.@readers",
           "bench.GoldMentionsCorpus.v1"]
    log_path = WORK / "logs" / f"spacy_debug_config_{ds.name}.log"
    measured = run_measured(cmd, log_path)
    text = re.sub(r"\x1b\[[0-9;]*m", "", log_path.read_text(encoding="utf8", errors="replace"))
    tail = text.strip().splitlines()[-4:]
    if measured.returncode:
        log(f"NOTE: spacy debug config rejects {CONFIG} (spacy train still runs it): {' / '.join(tail)}")
    return {"command": " ".join(str(c) for c in cmd), "returncode": measured.returncode, "last_lines": tail}


def archcli_predict(argv: Sequence[str]) -> None:
    """`bench_el.py _predict`: archcli's side of `predict`, mirroring el_side_spacy.py's (one JSON line)."""
    import resource

    from archcli.language import load
    from archcli.tokens import Doc, Span
    from archcli.tokens.docbin import DocBin, read_docbin

    p = argparse.ArgumentParser()
    for flag in ("--model", "--gold", "--out"):
        p.add_argument(flag, type=Path, required=True)
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0, help="accepted as el_side_spacy.py does; archcli breaks no ties at random")
    args = p.parse_args(argv)
    nlp = load(args.model)
    gold = list(read_docbin(args.gold, nlp.vocab))
    n_words = sum(len(d) for d in gold)

    def fresh() -> List[Any]:
        docs = []
        for ref in gold:
            doc = Doc(nlp.vocab, [t.text for t in ref], [bool(t.whitespace_) for t in ref])
            starts = [s.start for s in ref.sents]
            doc.sent_start[:] = -1
            doc.sent_start[starts] = 1
            doc.ents = [Span(doc, e.start, e.end, label=e.label_) for e in ref.ents]
            docs.append(doc)
        return docs

    list(nlp.pipe(fresh(), batch_size=args.batch_size))  # warm-up
    timings: List[float] = []
    for _ in range(max(args.repeats, 1)):
        docs = fresh()
        start = time.perf_counter()
        predicted = list(nlp.pipe(docs, batch_size=args.batch_size))
        timings.append(time.perf_counter() - start)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    DocBin(docs=predicted).to_disk(args.out)
    best = min(timings)
    print(json.dumps({
        "tool": "archcli", "version": str(__import__("archcli").__version__), "model": str(args.model),
        "n_docs": len(gold), "n_words": n_words, "n_ents": sum(len(d.ents) for d in gold),
        "batch_size": args.batch_size, "pipe_seconds": timings, "words_per_second": n_words / best if best else 0.0,
        "words_per_second_median": n_words / statistics.median(timings), "predictions": str(args.out),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


# --- 5. report ------------------------------------------------------------------------------
METRICS = (  # (key, label, kind): "delta" = scores in points, "ratio" = speeds and sizes
    ("nel_micro_f", "nel_micro_f (%)", "delta"), ("nel_micro_p", "nel_micro_p (%)", "delta"),
    ("nel_micro_r", "nel_micro_r (%)", "delta"), ("nel_acc", "nel_acc (%)", "delta"),
    ("train_words_per_s", "train words/s", "ratio"), ("infer_words_per_s", "inference words/s", "ratio"),
    ("train_peak_rss_mib", "peak RSS train (MiB)", "ratio"),
    ("infer_peak_rss_mib", "peak RSS inference (MiB)", "ratio"),
    ("train_wall_s", "train process wall (s)", "ratio"),
)


def spread(values: List[float]) -> Dict[str, Any]:
    return {"mean": statistics.mean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "per_seed": values}


def flatten(trained: Dict[str, Any], predicted: Dict[str, Any], scores: Dict[str, Any]) -> Dict[str, Optional[float]]:
    row: Dict[str, Optional[float]] = {k: scores.get(k) for k in SCORES}
    row.update(train_words_per_s=trained["words_per_second"], infer_words_per_s=predicted["words_per_second"],
               train_peak_rss_mib=trained["process"]["peak_rss_mib"],
               infer_peak_rss_mib=predicted["process"]["peak_rss_mib"], train_wall_s=trained["process"]["wall_s"])
    return row


def summarize(per_seed: Dict[int, Dict[str, Dict[str, Any]]], run_names: List[str]) -> Dict[str, Any]:
    runs = {}
    for name in run_names:
        runs[name] = {key: spread([by_run[name]["row"][key] or 0.0 for by_run in per_seed.values()])
                      for key, _, _ in METRICS}
    comparisons = {}
    for label, a, b in COMPARISONS:
        if a in runs and b in runs:
            comp = {}
            for key, _, kind in METRICS:
                pairs = zip(runs[a][key]["per_seed"], runs[b][key]["per_seed"])
                values = [100 * (x - y) if kind == "delta" else (x / y if y else float("nan")) for x, y in pairs]
                comp[key] = dict(spread(values), kind=kind)
            comparisons[label] = comp
    return {"runs": runs, "comparisons": comparisons}


def format_table(summary: Dict[str, Any], labels: Dict[str, str]) -> str:
    names = list(summary["runs"])
    comps = list(summary["comparisons"])
    lines = ["| metric | " + " | ".join(labels[n] for n in names) + "".join(f" | {c}" for c in comps) + " |",
             "|---|" + "---:|" * (len(names) + len(comps))]
    for key, label, kind in METRICS:
        cells = []
        for name in names:
            v = summary["runs"][name][key]
            cells.append(f"{100 * v['mean']:.1f} ± {100 * v['sd']:.1f}" if kind == "delta" else f"{v['mean']:,.0f}")
        for comp in comps:
            v = summary["comparisons"][comp][key]
            cells.append(f"{v['mean']:+.1f} ± {v['sd']:.1f} pts" if kind == "delta" else f"{v['mean']:.2f}x")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_references(base: Dict[str, Any]) -> str:
    lines = ["| reference (same mentions) | nel_micro_f (%) | nel_acc (%) |", "|---|---:|---:|"]
    for rule, label in (("prior", "prior-only baseline"), ("chance", "chance (expected)"),
                        ("oracle", "oracle upper bound")):
        lines.append(f"| {label} | {100 * base[rule]['nel_micro_f']:.1f} | {100 * base[rule]['nel_acc']:.1f} |")
    return "\n".join(lines)


def format_kb(kbs: Dict[str, Dict[str, Any]]) -> str:
    lines = ["| KB | entities | aliases | archcli init-kb (s) | archcli KB on disk (KiB) | archcli load (s) | "
             "spaCy add_entity+add_alias (s) | spaCy to_disk (s) | spaCy KB on disk (KiB) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, kb in kbs.items():
        a, s = kb["archcli"], kb["spacy"]
        lines.append(f"| {name} | {a['n_entities']:,} | {a['n_aliases']:,} | {a['process']['wall_s']:.1f} | "
                     f"{a['size_bytes'] / 1024:,.0f} | {a['load_s']:.3f} | {s['build_s']:.3f} | {s['save_s']:.3f} | "
                     f"{s['size_bytes'] / 1024:,.0f} |")
    return "\n".join(lines)


def goals(name: str, summary: Dict[str, Any], base: Dict[str, Any]) -> Dict[str, bool]:
    runs = summary["runs"]
    if "archcli" not in runs:
        return {}
    a = runs["archcli"]
    out: Dict[str, bool] = {}
    if name == "litbank_el":
        if "spacy" in runs:
            out["litbank_el: archcli nel_micro_f >= spaCy (same cfg), mean over seeds"] = (
                a["nel_micro_f"]["mean"] >= runs["spacy"]["nel_micro_f"]["mean"])
        out["litbank_el: archcli nel_acc > prior-only baseline, every seed"] = (
            a["nel_acc"]["min"] > base["prior"]["nel_acc"])
    else:
        out["nel_emerson: archcli nel_acc >= chance + 0.25 (well above chance), mean over seeds"] = (
            a["nel_acc"]["mean"] >= base["chance"]["nel_acc"] + 0.25)
    return out


# --- main -----------------------------------------------------------------------------------
def prepare(ds: Dataset, args: argparse.Namespace) -> Dict[str, Any]:
    folder = WORK / ds.name
    folder.mkdir(parents=True, exist_ok=True)
    if ds.name == "litbank_el":
        records = {"train": litbank_records("train"), "eval": litbank_records("dev")}
    else:
        records = emerson_records()
    corpus = {split: convert(recs, folder / f"{split}.jsonl", folder / f"{split}.spacy")
              for split, recs in records.items()}
    readback = {}
    for split in records:
        theirs, _ = spacy_side(args, ["digest", rel(folder / f"{split}.spacy")], f"digest_{ds.name}_{split}")
        diff = compare_digests(archcli_digest(folder / f"{split}.spacy"), theirs)
        if diff:
            sys.exit(f"archcli and spaCy read {rel(folder / split)}.spacy differently: {diff}")
        readback[split] = "identical"
    return {"corpus": corpus, "archcli_vs_spacy_reading": readback,
            "files": {split: folder / f"{split}.spacy" for split in records}}


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spacy-python", default="/work/spacy-venv/bin/python", help="python of the spaCy 3.8 venv")
    p.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated: litbank_el, nel_emerson")
    p.add_argument("--runs", default=",".join(r.name for r in RUNS), help="comma-separated: archcli, spacy, spacy-init")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated system.seed values; each trains every run")
    p.add_argument("--max-steps", type=int, default=None, help="override every dataset's step budget (dry runs)")
    p.add_argument("--repeats", type=int, default=3, help="timed nlp.pipe passes at inference (the fastest counts)")
    p.add_argument("--no-center", action="store_true",
                   help="init-kb --no-center: raw mean word vectors as entity vectors (init-kb centres them by default)")
    p.add_argument("--output", type=Path, default=BENCH / "results" / "el.json")
    args = p.parse_args(argv)
    try:
        args.seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        p.error(f"--seeds {args.seeds!r}: give comma-separated integers, e.g. 0,1,2")
    args.datasets = [d for d in args.datasets.split(",") if d]
    if not args.datasets or set(args.datasets) - set(DATASETS):
        p.error(f"--datasets: choose from {', '.join(DATASETS)}")
    args.runs = [r for r in args.runs.split(",") if r]
    if not args.runs or set(args.runs) - {r.name for r in RUNS}:
        p.error(f"--runs: choose from {', '.join(r.name for r in RUNS)}")
    if not Path(args.spacy_python).exists():
        p.error(f"--spacy-python {args.spacy_python}: not found")
    if args.max_steps is not None and args.max_steps <= 0:
        p.error("--max-steps must be positive")
    return args


def main(argv: Sequence[str]) -> None:
    args = parse_args(argv)
    load_start = os.getloadavg()[0]
    runs = [run for run in RUNS if run.name in args.runs]
    if any(not run.config for run in runs):
        args.spacy_init_config = spacy_init_config(args)
    report: Dict[str, Any] = {
        "benchmark": "entity_linking", "archcli_commit": git_commit(),
        "command": " ".join(["python", "bench/bench_el.py", *argv]),
        "settings": {k: rel(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "runs": {run.name: asdict(run) for run in runs}, "datasets": {},
    }
    tables = []
    for name in args.datasets:
        ds = DATASETS[name]
        if args.max_steps is not None:
            ds = Dataset(ds.name, ds.eval_split, args.max_steps, min(ds.eval_frequency, args.max_steps),
                         f"--max-steps {args.max_steps} (a dry run)")
        prepared = prepare(ds, args)
        files = prepared["files"]
        kbs = build_kbs(ds, args, WORK / ds.name)
        base = baselines(WORK / ds.name / "kb_archcli", files["eval"])
        entry: Dict[str, Any] = {
            "dataset": asdict(ds), "corpus": prepared["corpus"],
            "archcli_vs_spacy_reading": prepared["archcli_vs_spacy_reading"], "kb": kbs, "baselines": base,
        }
        entry["spacy_debug_config"] = debug_config(args, files, WORK / ds.name / "kb_spacy", ds)
        if name == "litbank_el":
            entry["readme_baselines_check"] = litbank_readme_check(WORK / ds.name / "kb_archcli")
        per_seed: Dict[int, Dict[str, Dict[str, Any]]] = {}
        for seed in args.seeds:
            per_seed[seed] = {}
            for run in runs:
                kb = WORK / ds.name / ("kb_spacy" if run.tool == "spacy" else "kb_archcli")
                trained = train(run, ds, seed, args, files, kb)
                predicted = predict(run, ds, seed, args, files["eval"])
                scores = score_predictions(Path(predicted["predictions"]), files["eval"])
                scores["spacy_scorer"] = cross_check(args, Path(predicted["predictions"]), files["eval"], scores,
                                                     f"score_{ds.name}_seed{seed}_{run.name}")
                log(f"{ds.name} seed {seed} {run.name}: nel_micro_f {scores['nel_micro_f']:.4f}, "
                    f"nel_acc {scores['nel_acc']:.4f}")
                per_seed[seed][run.name] = {"train": trained, "predict": predicted, "scores": scores,
                                            "row": flatten(trained, predicted, scores)}
        summary = summarize(per_seed, [run.name for run in runs])
        table = format_table(summary, {run.name: run.label for run in runs})
        entry.update(summary=summary, table=table, references_table=format_references(base),
                     goals=goals(name, summary, base),
                     per_seed={str(seed): by_run for seed, by_run in per_seed.items()})
        report["datasets"][name] = entry
        c = prepared["corpus"]["eval"]
        tables.append(f"### {name}: {ds.eval_split} ({c['n_docs']} docs, {c['n_words']:,} words, {c['n_mentions']} "
                      f"mentions), {ds.max_steps} steps, seeds {args.seeds}\n\n{table}\n\n{format_references(base)}")
    report["kb_table"] = format_kb({n: report["datasets"][n]["kb"] for n in args.datasets})
    report["machine"] = {"cpus": os.cpu_count(), "blas": blas_settings(),
                         "load_average_1min": {"start": load_start, "end": os.getloadavg()[0]}}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf8")
    print("\n\n".join(tables))
    print("\n" + report["kb_table"])
    for name in args.datasets:
        for goal, ok in report["datasets"][name]["goals"].items():
            print(f"{'PASS' if ok else 'FAIL'}  {goal}")
    print(f"results: {rel(args.output)}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["_predict"]:
        archcli_predict(sys.argv[2:])
    else:
        main(sys.argv[1:])
