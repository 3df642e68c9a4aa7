from pathlib import Path
from typing import AbstractSet, Any, Dict, List, Optional, Sequence

import typer
from wasabi import msg

from ..errors import ArchcliError
from ..gates import RAW_SCORE_KEYS, numeric_scores
from .app import app
from ._util import code_option, import_code, setup_gpu, user_errors

SCORE_NAMES = {
    "token_acc": "TOK", "tag_acc": "TAG", "pos_acc": "POS", "morph_acc": "MORPH", "lemma_acc": "LEMMA",
    "dep_uas": "UAS", "dep_las": "LAS", "sents_f": "SENT F", "ents_p": "NER P", "ents_r": "NER R",
    "ents_f": "NER F", "cats_score": "TEXTCAT", "cats_macro_auc": "TEXTCAT AUC", "cats_micro_f": "TEXTCAT MICRO F",
    "nel_micro_p": "NEL P", "nel_micro_r": "NEL R", "nel_micro_f": "NEL F", "nel_acc": "NEL ACC",
    "coref_f": "COREF LEA F", "coref_muc_f": "COREF MUC F", "coref_b3_f": "COREF B3 F", "coref_ceafe_f": "COREF CEAF-E F",
    "coref_conll_f": "COREF CONLL F", "span_coref_clusters_accuracy": "SPAN ACC", "speed": "SPEED",
}
# Span groups are scored per key: spans_<key>_p/_r/_f print as SPAN <KEY> P/R/F.
SPAN_SCORE_SUFFIXES = {"_p": "P", "_r": "R", "_f": "F"}


@app.command("evaluate")
@user_errors
def evaluate_cli(
    model: Path = typer.Argument(..., metavar="MODEL", help="Model directory (e.g. output/model-best)"),
    data_path: Path = typer.Argument(..., metavar="DATA_PATH", help="Evaluation data: a file or directory"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the scores as JSON here"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU id, or -1 for CPU"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b"),
    code_path: Optional[Path] = code_option(),
    minimums: List[str] = typer.Option([], "--min", metavar="KEY=VALUE",
                                       help="Gate: fail (exit 2) if score KEY is below VALUE (0-1 or 0-100); repeatable"),
    baseline: Optional[Path] = typer.Option(None, "--baseline", help="Gate: scores JSON of an earlier evaluate --output"),
    max_drop: Optional[float] = typer.Option(None, "--max-drop", metavar="POINTS",
                                             help="With --baseline: the drop in points each score may have (default 0)"),
    per_component: bool = typer.Option(False, "--per-component", help="Also show each component's scores apart"),
    plots: Optional[Path] = typer.Option(None, "--plots", metavar="DIR",
                                         help="Write confusion matrices (tags, categories) and per-label F charts here"),
    gold_tokens: bool = typer.Option(True, "--gold-tokens/--retokenize",
                                     help="Score on the corpus's own tokens (default: gold_preproc = true), or "
                                          "re-tokenise each doc's raw text with the model's tokenizer and score "
                                          "through the alignment, as `spacy evaluate` does"),
) -> None:
    """Score a trained pipeline on gold data with the reader its dev corpus uses.

    Exit codes: 0 scores computed and every gate passed; 2 a --min or --baseline gate failed;
    1 evaluation could not run (bad model, data, or gate option)."""
    import srsly

    from ..evaluate import evaluate
    from ..fileio import check_output_path, write_text_atomic

    from ..gates import EXIT_GATE_FAILED, check_gates, gates_record, parse_min, read_baseline

    # Every option is checked before the model runs, not after.
    if max_drop is not None and baseline is None:
        raise ArchcliError("--max-drop needs --baseline (the scores JSON to compare with)")
    if max_drop is not None and max_drop < 0:
        raise ArchcliError(f"--max-drop {max_drop}: a drop is a number of points >= 0")
    mins = [parse_min(spec) for spec in minimums]
    base_scores = read_baseline(baseline) if baseline is not None else None
    if output is not None:
        check_output_path(output, directory=False)
    if plots is not None:
        from ..plotting import pyplot

        pyplot("evaluate --plots")
        check_output_path(plots, directory=True)
    import_code(code_path)
    setup_gpu(gpu_id)
    predictions: Optional[list] = [] if plots is not None else None
    scores = evaluate(model, data_path, batch_size=batch_size, per_component=per_component, predictions=predictions,
                      retokenize=not gold_tokens)
    gates = check_gates(scores, mins, base_scores, max_drop or 0.0) if mins or base_scores else []
    print_scores(scores, failing={g.key for g in gates if not g.passed})
    if gates:
        print_gates(gates)
        scores["gates"] = gates_record(gates, max_drop if base_scores else None)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(output, srsly.json_dumps(scores, indent=2) + "\n")
        msg.good(f"Saved scores to {output}")
    if plots is not None:
        from ..plotting import plot_evaluation

        for path in plot_evaluation(scores, predictions or [], plots):
            msg.good(f"Saved {path}")
    failed = [g.key for g in gates if not g.passed]
    if failed:
        msg.fail(f"{len(failed)} gate(s) failed: {', '.join(dict.fromkeys(failed))}")
        raise typer.Exit(EXIT_GATE_FAILED)


def _shown(key: str, value: Optional[float]) -> str:
    if value is None:
        return "missing"
    return f"{value:.0f}" if key in RAW_SCORE_KEYS else f"{value * 100:.2f}"


def print_gates(gates: Sequence[Any]) -> None:
    rows = []
    for gate in gates:
        rule = f">= {_shown(gate.key, gate.threshold)}"
        if gate.kind == "max_drop":
            rule += f" (baseline {_shown(gate.key, gate.baseline)})"
        rows.append((gate.key, _shown(gate.key, gate.value), rule, "pass" if gate.passed else "FAIL"))
    msg.table(rows, header=("score", "value", "gate", ""), aligns=("l", "r", "l", "l"), title="Gates")


def print_scores(scores: Dict[str, Any], failing: AbstractSet[str] = frozenset()) -> None:
    """The score table; keys in `failing` (gates that failed) are marked."""
    rows = []
    for key, name in SCORE_NAMES.items():
        value = scores.get(key)
        if value is None:
            continue
        rows.append((name, _shown(key, value) + ("  FAIL" if key in failing else "")))
    for key, value in scores.items():
        if key.startswith("spans_") and key[-2:] in SPAN_SCORE_SUFFIXES and isinstance(value, (int, float)):
            rows.insert(len(rows) - ("speed" in scores), (f"SPAN {key[6:-2].upper()} {SPAN_SCORE_SUFFIXES[key[-2:]]}",
                                                           _shown(key, value) + ("  FAIL" if key in failing else "")))
    msg.divider("Results")
    msg.table(rows, aligns=("l", "r"))
    for key, value in scores.items():
        if key == "cats_auc_per_type" and isinstance(value, dict) and value:
            data = [(label, "-" if v is None else f"{v:.2f}") for label, v in sorted(value.items())]
            msg.table(data, header=("", "ROC AUC"), aligns=("l", "r"), title="TEXTCAT ROC AUC (per label)")
            continue
        if key.endswith("_per_type") and isinstance(value, dict) and value and all(
                isinstance(v, dict) for v in value.values()):
            data = [(label, f"{v['p'] * 100:.2f}", f"{v['r'] * 100:.2f}", f"{v['f'] * 100:.2f}")
                    for label, v in sorted(value.items())]
            msg.table(data, header=("", "P", "R", "F"), aligns=("l", "r", "r", "r"),
                      title=key.replace("_f_per_type", "").replace("_per_type", "").upper() + " (per type)")
    for name, component_scores in scores.get("per_component", {}).items():
        data = [(key, _shown(key, value)) for key, value in numeric_scores(component_scores).items()]
        if data:  # a tok2vec scores nothing
            msg.table(data, aligns=("l", "r"), title=f"Component '{name}'")
