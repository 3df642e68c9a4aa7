"""The CLI end to end on the shipped samples: init-config, train, evaluate, debug-model."""
import json

import pytest
from thinc.api import Config
from typer.testing import CliRunner

from archcli.cli import app

from .conftest import SAMPLES
from .util import TAGGER_CFG

runner = CliRunner()
TRAIN = SAMPLES / "conllu" / "train.conllu"
DEV = SAMPLES / "conllu" / "dev.conllu"


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_init_config_writes_trainable_config(tmp_path):
    for optimize in ("efficiency", "accuracy"):
        out = tmp_path / f"{optimize}.cfg"
        invoke("init-config", out, "--pipeline", "tok2vec,tagger", "--optimize", optimize)
        config = Config().from_disk(out)
        assert config["nlp"]["pipeline"] == ["tok2vec", "tagger"]
        assert config["components"]["tagger"]["model"]["tok2vec"]["@architectures"] == "spacy.Tok2VecListener.v1"
    output = invoke("train", tmp_path / "efficiency.cfg", "--output", tmp_path / "run",
                    "--paths.train", TRAIN, "--paths.dev", DEV, "--training.max_steps", "20",
                    "--training.eval_frequency", "10")
    assert "TAG_ACC" in output
    assert (tmp_path / "run" / "model-best" / "tagger" / "model").exists()


def test_init_config_single_tagger_has_inline_tok2vec(tmp_path):
    out = tmp_path / "tagger.cfg"
    invoke("init-config", out, "--pipeline", "tagger")
    config = Config().from_disk(out)
    assert config["nlp"]["pipeline"] == ["tagger"]
    assert config["components"]["tagger"]["model"]["tok2vec"]["@architectures"] == "spacy.Tok2Vec.v2"


def test_train_evaluate_debug_on_samples(tmp_path):
    out = tmp_path / "out"
    output = invoke("train", TAGGER_CFG, "--output", out, "--training.max_steps", "60",
                    "--training.eval_frequency", "20")
    assert "LOSS TAGGER" in output and "TAG_ACC" in output
    for name in ("model-best", "model-last"):
        assert (out / name / "config.cfg").exists() and (out / name / "meta.json").exists()
    meta = json.loads((out / "model-best" / "meta.json").read_text())
    assert meta["pipeline"] == ["tok2vec", "tagger"] and "tag_acc" in meta["performance"]
    log = [json.loads(line) for line in (out / "training_log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in log] == [0, 20, 40, 60]
    metrics = tmp_path / "metrics.json"
    output = invoke("evaluate", out / "model-best", DEV, "--output", metrics)
    scores = json.loads(metrics.read_text())
    # 60 steps on the samples reach ~0.75 (seed 0); the untrained model scores ~0.31 at step 0.
    assert "TAG" in output and scores["tag_acc"] > 0.6 and scores["token_acc"] == 1.0
    assert scores["tag_acc"] == pytest.approx(meta["performance"]["tag_acc"])  # the same dev set
    assert scores["speed"] > 0
    output = invoke("debug-model", TAGGER_CFG, "tagger", "--steps", "2")
    assert "softmax" in output and "After 2 training steps" in output and "grad:" in output


def test_python_module_entry_point():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "archcli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "init-config" in result.stdout
