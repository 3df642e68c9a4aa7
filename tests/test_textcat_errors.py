"""Bad text classification input: one message naming the file:line or config key, exit 1."""
import json

import pytest
from typer.testing import CliRunner

from archcli.cli import app

from .util import REPO

runner = CliRunner()
SAMPLES = REPO / "corpus_samples" / "textcat"


def run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result, result.output + (result.stderr if result.stderr_bytes is not None else "")


def assert_clean_failure(result, output, *needles):
    assert result.exit_code == 1, output
    assert "Traceback" not in output
    flat = " ".join(output.split())
    for needle in needles:
        assert needle in flat, f"{needle!r} not in {output!r}"


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf8")
    return path


def train_args(cfg, train, dev, tmp_path, *extra):
    return ["train", cfg, "--output", tmp_path / "out", "--paths.train", train, "--paths.dev", dev,
            "--training.max_steps", "2", "--training.eval_frequency", "1", *extra]


GOOD = {"text": "A fine day .", "cats": {"POSITIVE": 1.0, "NEGATIVE": 0.0}}


@pytest.mark.parametrize("value,needle", [("yes", "'yes' is not a number in [0, 1]"), (1.5, "1.5 is not a number in [0, 1]"),
                                          (True, "True is not a number in [0, 1]"), (-0.1, "-0.1 is not a number")])
def test_cats_value_not_in_unit_interval(tmp_path, value, needle):
    train = write_jsonl(tmp_path / "train.jsonl", [GOOD, GOOD, {"text": "Odd .", "cats": {"POSITIVE": value}}])
    result, output = run(*train_args(REPO / "configs/textcat_bow.cfg", train, SAMPLES / "dev.jsonl", tmp_path))
    assert_clean_failure(result, output, f"{train}:3", needle)


def test_cats_not_an_object(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", [GOOD, {"text": "Odd .", "cats": ["POSITIVE"]}])
    result, output = run(*train_args(REPO / "configs/textcat_bow.cfg", train, SAMPLES / "dev.jsonl", tmp_path))
    assert_clean_failure(result, output, f"{train}:2", '"cats" must be an object')


def test_exclusive_example_without_positive_class(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", [GOOD, {"text": "Hm .", "cats": {"POSITIVE": 0.0, "NEGATIVE": 0.0}}])
    result, output = run(*train_args(REPO / "configs/textcat_bow.cfg", train, SAMPLES / "dev.jsonl", tmp_path))
    assert_clean_failure(result, output, f"{train}:2", "no positive label", "exactly one label")


def test_exclusive_dev_example_without_cats(tmp_path):
    dev = write_jsonl(tmp_path / "dev.jsonl", [GOOD, {"text": "No labels here ."}])
    result, output = run(*train_args(REPO / "configs/textcat_bow.cfg", SAMPLES / "train.jsonl", dev, tmp_path))
    assert_clean_failure(result, output, f"{dev}:2", "no positive label")


def test_exclusive_example_with_two_positive_classes(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", [GOOD, {"text": "Both .", "cats": {"POSITIVE": 1.0, "NEGATIVE": 1.0}}])
    result, output = run(*train_args(REPO / "configs/textcat_bow.cfg", train, SAMPLES / "dev.jsonl", tmp_path))
    assert_clean_failure(result, output, f"{train}:2", "2 positive labels", "textcat_multilabel")


def test_graded_value_under_exclusive_classes(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", [GOOD, {"text": "Meh .", "cats": {"POSITIVE": 0.5, "NEGATIVE": 0.5}}])
    result, output = run(*train_args(REPO / "configs/textcat_bow.cfg", train, SAMPLES / "dev.jsonl", tmp_path))
    assert_clean_failure(result, output, f"{train}:2", "take 0 or 1 only")


@pytest.mark.parametrize("cfg,override,key", [
    ("textcat_bow", ("--components.textcat.model.exclusive_classes", "false"),
     "components.textcat.model.exclusive_classes"),
    ("textcat_multilabel", ("--components.textcat_multilabel.model.linear_model.exclusive_classes", "true"),
     "components.textcat_multilabel.model.linear_model.exclusive_classes"),
])
def test_model_with_other_exclusive_classes_setting(tmp_path, cfg, override, key):
    result, output = run(*train_args(REPO / f"configs/{cfg}.cfg", SAMPLES / "train.jsonl", SAMPLES / "dev.jsonl",
                                     tmp_path, *override))
    assert_clean_failure(result, output, key, "exclusive_classes")


def test_single_label_for_exclusive_textcat(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", [{"text": "Yes .", "cats": {"POSITIVE": 1.0}}] * 3)
    result, output = run(*train_args(REPO / "configs/textcat_bow.cfg", train, train, tmp_path))
    assert_clean_failure(result, output, "at least two labels")
