from pathlib import Path
from typing import Any, Dict, Optional

import typer
from wasabi import msg

from .app import app
from ._util import setup_gpu, user_errors

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
) -> None:
    """Score a trained pipeline on gold data with the reader its dev corpus uses."""
    import srsly

    from ..evaluate import evaluate
    from ..fileio import check_output_path, write_text_atomic

    if output is not None:
        check_output_path(output, directory=False)  # before the model runs, not after
    setup_gpu(gpu_id)
    scores = evaluate(model, data_path, batch_size=batch_size)
    print_scores(scores)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(output, srsly.json_dumps(scores, indent=2) + "\n")
        msg.good(f"Saved scores to {output}")


def print_scores(scores: Dict[str, Any]) -> None:
    rows = []
    for key, name in SCORE_NAMES.items():
        value = scores.get(key)
        if value is None:
            continue
        rows.append((name, f"{value:.0f}" if key == "speed" else f"{value * 100:.2f}"))
    for key, value in scores.items():
        if key.startswith("spans_") and key[-2:] in SPAN_SCORE_SUFFIXES and isinstance(value, (int, float)):
            rows.insert(len(rows) - ("speed" in scores), (f"SPAN {key[6:-2].upper()} {SPAN_SCORE_SUFFIXES[key[-2:]]}",
                                                           f"{value * 100:.2f}"))
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
