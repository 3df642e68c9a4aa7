"""Learning curves from a `training_log.jsonl`: a run is easier to judge from a picture than a table.

matplotlib is an optional extra (`pip install 'archcli[plot]'`); it is imported only here, and
its absence is one clear message.
"""
import json
import math
from pathlib import Path
from typing import Any, Dict, List, Tuple, Union

import numpy

from .errors import ArchcliError
from .fileio import atomic_file

LOG_NAME = "training_log.jsonl"
DEFAULT_PLOT_NAME = "training_curves.png"
# Scalar score keys that are not on the 0-1 scale, kept off the score axes.
UNPLOTTED_SCORES = frozenset({"speed"})


def find_log(path: Union[str, Path]) -> Path:
    """`path` itself when it is a log file, else `path/training_log.jsonl`."""
    path = Path(path)
    if path.is_dir():
        path = path / LOG_NAME
    if not path.is_file():
        raise ArchcliError(f"no training log here (expected an output directory of `archcli train` or its "
                           f"{LOG_NAME})", where=str(path))
    return path


def read_training_log(path: Path) -> List[Dict[str, Any]]:
    """The log's evaluation records, checked: each line a JSON object with a step and losses."""
    records = []
    with open(path, encoding="utf8") as file_:
        for line_no, line in enumerate(file_, 1):
            if not line.strip():
                continue
            where = f"{path}:{line_no}"
            try:
                record = json.loads(line)
            except ValueError as err:
                raise ArchcliError(f"not a JSON line ({err.msg})", where=where) from None
            if not isinstance(record, dict) or not isinstance(record.get("step"), int):
                raise ArchcliError("expected a training log record with a \"step\" number", where=where)
            if not isinstance(record.get("losses", {}), dict) or not isinstance(record.get("scores", {}), dict):
                raise ArchcliError("\"losses\" and \"scores\" should be objects", where=where)
            records.append(record)
    if not records:
        raise ArchcliError("the training log is empty: training stopped before its first evaluation", where=str(path))
    return records


def _series(records: List[Dict[str, Any]], field: str) -> Dict[str, List[Tuple[int, int, float]]]:
    """{key: [(step, words seen, value), ...]} for each scalar under `field` ("scores" or "losses")."""
    series: Dict[str, List[Tuple[int, int, float]]] = {}
    for record in records:
        for key, value in (record.get(field) or {}).items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                continue
            if field == "scores" and key in UNPLOTTED_SCORES:
                continue
            series.setdefault(key, []).append((record["step"], int(record.get("words") or 0), float(value)))
    return series


def _readable_scores(series: Dict[str, List[Tuple[int, int, float]]]) -> Dict[str, List[Tuple[int, int, float]]]:
    """The score curves worth a line: P and R left out where their F is drawn, and the token scores
    left out while they are all 100% (training on the corpus's own tokens)."""
    kept = {}
    for key, points in series.items():
        if key[-2:] in ("_p", "_r") and key[:-2] + "_f" in series:
            continue
        if key.startswith("token_") and all(p[2] == 1.0 for p in points):
            continue
        kept[key] = points
    return kept


def pyplot(what: str = "`archcli plot`"):
    """matplotlib's pyplot drawing to files only, or a clear message that the extra is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise ArchcliError(f"{what} needs matplotlib: pip install 'archcli[plot]'") from None
    return plt


def _save_png(fig, output: Path) -> Path:
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(output) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    fig.clear()
    return output


def plot_training_curves(log_path: Union[str, Path], output: Union[str, Path]) -> Path:
    """Write a PNG: scores and losses against step (top) and against words seen (bottom), the
    best checkpoint marked. Returns the PNG's path."""
    plt = pyplot()
    log_path, output = Path(log_path), Path(output)
    records = read_training_log(log_path)
    scores, losses = _readable_scores(_series(records, "scores")), _series(records, "losses")
    weighted = [(r["step"], int(r.get("words") or 0), float(r["score"])) for r in records
                if isinstance(r.get("score"), (int, float)) and math.isfinite(r["score"])]
    last = records[-1].get("checkpoints") or {}
    best_step = last.get("best_step")
    best = next((r for r in records if r["step"] == best_step), None)

    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5), constrained_layout=True)
    for row, (x_index, x_label) in enumerate(((0, "step"), (1, "words seen"))):
        score_ax, loss_ax = axes[row]
        for key, points in sorted(scores.items()):
            score_ax.plot([p[x_index] for p in points], [100 * p[2] for p in points], marker=".", label=key)
        if weighted:
            score_ax.plot([p[x_index] for p in weighted], [100 * p[2] for p in weighted], color="black",
                          linewidth=2.5, label="score (training.score_weights)")
        for key, points in sorted(losses.items()):
            loss_ax.plot([p[x_index] for p in points], [p[2] for p in points], marker=".", label=key)
        if best is not None:
            x_best = best["step"] if x_index == 0 else best.get("words") or 0
            for ax in (score_ax, loss_ax):
                ax.axvline(x_best, color="grey", linestyle="--", linewidth=1)
            score_ax.plot([x_best], [100 * best["score"]], marker="*", markersize=16, color="black",
                          linestyle="none", label=f"best: step {best['step']}, score {100 * best['score']:.2f}")
        score_ax.set(xlabel=x_label, ylabel="dev score (%)", title=f"Dev scores by {x_label}")
        loss_ax.set(xlabel=x_label, ylabel="training loss (sum since the previous evaluation)",
                    title=f"Training losses by {x_label}")
        loss_values = [p[2] for points in losses.values() for p in points]
        if loss_values and min(loss_values) > 0 and max(loss_values) / min(loss_values) > 100:
            loss_ax.set_yscale("log")
        for ax in (score_ax, loss_ax):
            ax.grid(True, alpha=0.3)
            if row == 0 and ax.get_legend_handles_labels()[0]:  # the bottom row uses the same colours
                ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.suptitle(f"{log_path}: {len(records)} evaluations, last step {records[-1]['step']}")
    _save_png(fig, output)
    plt.close(fig)
    return output


MAX_CONFUSION_LABELS = 25


def confusion_matrix(gold: numpy.ndarray, pred: numpy.ndarray, max_labels: int = MAX_CONFUSION_LABELS
                     ) -> Tuple[List[int], numpy.ndarray]:
    """(labels, counts[gold, predicted]) over the `max_labels` most frequent gold labels; every
    other label (gold or predicted) is counted in a last "other" row/column, id -1."""
    values, counts = numpy.unique(gold, return_counts=True)
    labels = [int(v) for v in values[numpy.argsort(-counts, kind="stable")][:max_labels]]
    index = {label: i for i, label in enumerate(labels)}
    other = len(labels)
    rows = numpy.array([index.get(int(g), other) for g in numpy.unique(gold)])
    gold_rows = rows[numpy.searchsorted(numpy.unique(gold), gold)]
    pred_values = numpy.unique(pred)
    pred_cols = numpy.array([index.get(int(v), other) for v in pred_values])[numpy.searchsorted(pred_values, pred)]
    matrix = numpy.zeros((other + 1, other + 1), dtype="int64")
    numpy.add.at(matrix, (gold_rows, pred_cols), 1)
    if not matrix[other].any() and not matrix[:, other].any():
        return labels, matrix[:other, :other]
    return labels + [-1], matrix


def _plot_confusion(names: List[str], matrix: numpy.ndarray, title: str, output: Path) -> Path:
    plt = pyplot("evaluate --plots")
    size = max(5.0, 0.42 * len(names) + 2.5)
    fig, ax = plt.subplots(figsize=(size + 1.5, size), constrained_layout=True)
    shares = matrix / numpy.maximum(matrix.sum(axis=1, keepdims=True), 1)  # each gold row sums to 1
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set(xlabel="predicted", ylabel="gold", title=f"{title} (share of each gold label; counts in cells)")
    if len(names) <= 30:
        for (row, col), count in numpy.ndenumerate(matrix):
            if count:
                ax.text(col, row, str(count), ha="center", va="center", fontsize=6,
                        color="white" if shares[row, col] > 0.5 else "black")
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of the gold label")
    _save_png(fig, output)
    plt.close(fig)
    return output


def _plot_per_label_f(table: Dict[str, Dict[str, float]], title: str, output: Path) -> Path:
    plt = pyplot("evaluate --plots")
    items = sorted(table.items(), key=lambda item: item[1].get("f", 0.0))
    fig, ax = plt.subplots(figsize=(8, max(3.0, 0.28 * len(items) + 1.5)), constrained_layout=True)
    ax.barh([label for label, _ in items], [100 * v.get("f", 0.0) for _, v in items], color="tab:blue")
    ax.set(xlabel="F (%)", xlim=(0, 100), title=title)
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(True, axis="x", alpha=0.3)
    _save_png(fig, output)
    plt.close(fig)
    return output


def plot_evaluation(scores: Dict[str, Any], examples: List[Any], directory: Union[str, Path]) -> List[Path]:
    """Confusion matrices for tags and (single-label) categories, and a per-label F bar chart for
    every `*_per_type` table of the scores; the PNGs written."""
    directory = Path(directory)
    written: List[Path] = []
    if examples and any(eg.predicted.tag.any() for eg in examples):
        gold = numpy.concatenate([eg.reference.tag for eg in examples])
        pred = numpy.concatenate([eg.predicted.tag for eg in examples])
        annotated = gold != 0
        if annotated.any():
            strings = examples[0].reference.vocab.strings
            labels, matrix = confusion_matrix(gold[annotated], pred[annotated])
            names = ["(other)" if label == -1 else ("(none)" if label == 0 else strings.get_text(label))
                     for label in labels]
            written.append(_plot_confusion(names, matrix, "Tags", directory / "tag_confusion.png"))
    cat_pairs = [(max(eg.reference.cats, key=eg.reference.cats.get), max(eg.predicted.cats, key=eg.predicted.cats.get))
                 for eg in examples if eg.reference.cats and eg.predicted.cats]
    if cat_pairs:
        names = sorted({label for pair in cat_pairs for label in pair})
        ids = {name: i for i, name in enumerate(names)}
        gold = numpy.array([ids[g] for g, _ in cat_pairs])
        pred = numpy.array([ids[p] for _, p in cat_pairs])
        labels, matrix = confusion_matrix(gold, pred)
        written.append(_plot_confusion(["(other)" if i == -1 else names[i] for i in labels], matrix,
                                       "Categories (highest score)", directory / "cats_confusion.png"))
    for key, table in scores.items():
        if key.endswith("_per_type") and isinstance(table, dict) and table and all(
                isinstance(v, dict) and "f" in v for v in table.values()):
            written.append(_plot_per_label_f(table, f"{key}: F per label", directory / f"{key}_f.png"))
    return written
