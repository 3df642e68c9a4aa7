"""`archcli plot`: learning curves as a PNG from a real run's log, and clear errors on bad logs."""
import json
import sys

import numpy
import pytest
from typer.testing import CliRunner

from archcli.cli import app
from archcli.errors import ArchcliError

from .util import TAGGER_CFG

runner = CliRunner()
matplotlib = pytest.importorskip("matplotlib")  # the [plot] extra; `make test` installs it


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("plot")
    result = run("train", TAGGER_CFG, "--output", out, "--training.max_steps", "30", "--training.eval_frequency", "10",
                 "--training.logger.progress_bar", "false")
    assert result.exit_code == 0, result.output
    return out


def test_plot_writes_a_picture_of_the_run(trained_run, tmp_path):
    from matplotlib.image import imread

    result = run("plot", trained_run)
    assert result.exit_code == 0, result.output
    png = trained_run / "training_curves.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = imread(png)
    assert image.shape[0] > 600 and image.shape[1] > 900
    assert image[..., :3].std() > 0.05  # lines and text, not a blank canvas
    # The log file itself, and another output name.
    other = tmp_path / "sub" / "curves.png"
    assert run("plot", trained_run / "training_log.jsonl", "--output", other).exit_code == 0
    assert other.stat().st_size > 10_000


def test_readable_scores_drop_p_r_and_gold_token_scores():
    from archcli.plotting import _readable_scores

    series = {k: [(0, 0, 1.0)] for k in ("token_acc", "tag_acc", "ents_p", "ents_r", "ents_f", "cats_p")}
    assert sorted(_readable_scores(series)) == ["cats_p", "ents_f", "tag_acc"]


@pytest.mark.parametrize("content,message", [
    ("", "the training log is empty"),
    ('{"step": 0, "losses": {}}\n{not json\n', "training_log.jsonl:2: not a JSON line"),
    ('{"epoch": 0}\n', "training_log.jsonl:1: expected a training log record"),
    ('{"step": 0, "losses": [1, 2]}\n', "training_log.jsonl:1: \"losses\" and \"scores\" should be objects"),
])
def test_bad_logs_are_named(tmp_path, content, message):
    (tmp_path / "training_log.jsonl").write_text(content, encoding="utf8")
    result = run("plot", tmp_path)
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "training_curves.png").exists()


def test_no_log_and_no_matplotlib(tmp_path, monkeypatch, trained_run):
    result = run("plot", tmp_path)
    assert result.exit_code == 1 and "no training log here" in " ".join(result.output.split())
    from archcli.plotting import plot_training_curves

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if the extra were not installed
    with pytest.raises(ArchcliError, match=r"pip install 'archcli\[plot\]'"):
        plot_training_curves(trained_run / "training_log.jsonl", tmp_path / "x.png")


def test_log_records_match_what_training_writes(trained_run):
    from archcli.plotting import read_training_log

    records = read_training_log(trained_run / "training_log.jsonl")
    assert [r["step"] for r in records] == [0, 10, 20, 30]
    assert records[-1]["checkpoints"]["best_step"] in {0, 10, 20, 30}
    assert json.loads((trained_run / "training_log.jsonl").read_text().splitlines()[0])["losses"]
    assert numpy.isfinite(records[-1]["score"])


def test_confusion_matrix_counts_and_other_bucket():
    from archcli.plotting import confusion_matrix

    gold = numpy.array([5, 5, 5, 7, 7, 9])
    pred = numpy.array([5, 7, 5, 7, 3, 9])
    labels, matrix = confusion_matrix(gold, pred, max_labels=2)
    assert labels == [5, 7, -1]  # the two most frequent gold labels, then "other" (9 and the predicted 3)
    assert matrix.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    labels, matrix = confusion_matrix(gold, pred)
    assert labels == [5, 7, 9, -1] and matrix.sum() == len(gold)


def test_evaluate_plots(trained_run, tmp_path):
    from matplotlib.image import imread

    from .conftest import SAMPLES

    result = run("evaluate", trained_run / "model-last", SAMPLES / "conllu" / "dev.conllu", "--plots", tmp_path / "plots")
    assert result.exit_code == 0, result.output
    for name in ("tag_confusion.png", "tag_per_type_f.png"):
        image = imread(tmp_path / "plots" / name)
        assert image[..., :3].std() > 0.05, name
