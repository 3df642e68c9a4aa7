"""What a spaCy user notices on the command line: help text, flags, --version/info, aliases,
Ctrl-C messages, bugs kept as tracebacks, and a readable debug-model."""
import json
import re

import numpy
import pytest
from thinc.api import Ragged
from typer.testing import CliRunner

from archcli import __version__
from archcli.cli import app
from archcli.errors import ArchcliError

from .test_pretrain import CHARS_CFG, RAW_TEXT, SMALL
from .util import TAGGER_CFG, interrupt_pretraining_at

runner = CliRunner()


def invoke(*args, code: int = 0) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.output + repr(result.exception)
    return result.output


def test_help_keeps_square_brackets():
    assert "Config with a [pretraining] section" in invoke("pretrain", "--help")
    assert "Add a [pretraining] block" in " ".join(invoke("init-config", "--help").split())


def test_boolean_flags_show_no_metavar():
    for command in ("init-config", "pretrain", "train", "evaluate", "debug-model"):
        output = invoke(command, "--help")
        assert "<bool>" not in output and "BOOLEAN" not in output, output
    assert re.search(r"-F, --force\s+Overwrite", invoke("init-config", "--help"))


def test_optimize_accepts_only_efficiency_or_accuracy(tmp_path):
    result = runner.invoke(app, ["init-config", str(tmp_path / "x.cfg"), "--optimize", "fast"])
    assert result.exit_code == 2 and not (tmp_path / "x.cfg").exists()
    assert "'fast' is not one of" in result.output and "efficiency" in result.output
    invoke("init-config", tmp_path / "a.cfg", "--optimize", "accuracy")
    assert (tmp_path / "a.cfg").exists()


def test_version_and_info():
    assert invoke("--version").strip() == f"archcli {__version__}"
    output = invoke("info")
    for key in ("archcli version", "Python version", "Platform", "thinc version", "torch version"):
        assert key in output
    assert "Registered architectures" not in output
    count = int(re.search(r"Registered architectures\s+(\d+)", invoke("info", "--architectures")).group(1))
    assert count >= 20


def test_info_imports_neither_thinc_nor_torch():
    # `archcli info` imported torch to count architectures: 2 s for a version table (review item 14).
    import subprocess
    import sys

    code = ("import sys\nfrom archcli.cli import main\nsys.argv = ['archcli', 'info']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'thinc') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "archcli version" in out and out.strip().endswith("[]")


def test_spacy_spellings_init_config_and_debug_model(tmp_path):
    invoke("init", "config", tmp_path / "a.cfg", "--pipeline", "tok2vec,tagger")
    invoke("init-config", tmp_path / "b.cfg", "--pipeline", "tok2vec,tagger")
    assert (tmp_path / "a.cfg").read_text() == (tmp_path / "b.cfg").read_text()
    assert "--optimize" in invoke("init", "config", "--help")
    assert "--steps" in invoke("debug", "model", "--help")
    assert "init-config" in invoke("--help") and "debug-model" in invoke("--help")


def test_ctrl_c_in_pretrain_names_what_pretrain_leaves(tmp_path, monkeypatch):
    interrupt_pretraining_at(monkeypatch, 3)
    out = tmp_path / "out"
    args = ["pretrain", CHARS_CFG, out, "--paths.raw_text", RAW_TEXT]
    for key, value in SMALL.items():
        args += [f"--{key}", json.dumps(value)]
    output = invoke(*args, code=130)
    assert "model-best" not in output and "model{N}.bin" in output and "model-last.bin" in output
    assert (out / "model-last.bin").exists()


def test_ctrl_c_in_commands_that_save_nothing_claims_nothing(monkeypatch):
    import archcli.evaluate

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(archcli.evaluate, "evaluate", interrupted)
    output = invoke("evaluate", "model", "data", code=130)
    assert "Interrupted" in output and "model-best" not in output


def test_pretrain_keeps_the_traceback_of_a_broken_import(tmp_path, monkeypatch):
    """An ImportError inside archcli is a bug, not 'objectives not available in this version'."""
    import sys

    monkeypatch.setitem(sys.modules, "archcli.training.pretraining", None)
    result = runner.invoke(app, ["pretrain", str(CHARS_CFG), str(tmp_path / "out")])
    assert isinstance(result.exception, ImportError), result.output


def test_gpu_setup_reports_no_gpu_but_keeps_bugs(monkeypatch):
    import thinc.api

    from archcli.cli._util import setup_gpu

    def no_gpu(gpu_id):
        raise ValueError("No GPU devices detected")

    monkeypatch.setattr(thinc.api, "require_gpu", no_gpu)
    with pytest.raises(ArchcliError, match="--gpu-id 0: no usable GPU"):
        setup_gpu(0)

    def buggy(gpu_id):
        raise AttributeError("a bug")

    monkeypatch.setattr(thinc.api, "require_gpu", buggy)
    with pytest.raises(AttributeError):
        setup_gpu(0)


def test_debug_model_skips_integer_arrays_and_shortens_names():
    from archcli.debug_model import MAX_NAME, _stats, short_name

    ids = Ragged(numpy.array([[18406620953616287744, 101]], dtype="uint64"), numpy.array([1], dtype="int32"))
    assert _stats(ids) is None
    floats = Ragged(numpy.array([[1.0, 3.0]], dtype="float32"), numpy.array([1], dtype="int32"))
    assert _stats(floats)["mean"] == 2.0
    name = "extract_features>>list2ragged>>" + "ints-getitem>>hashembed|" * 20 + ">>ragged2list"
    short = short_name(name)
    assert len(short) == MAX_NAME and short.startswith("extract_features>>") and short.endswith("ragged2list")
    assert short_name("maxout>>layernorm") == "maxout>>layernorm"


def test_debug_model_output_is_readable():
    output = invoke("debug", "model", TAGGER_CFG, "tok2vec", "--steps", "1")
    assert "After 1 training steps" in output
    tree = [line for line in output.splitlines() if "params=" in line]
    assert tree and max(len(line) for line in tree) < 140, max(tree, key=len)
    means = [abs(float(m)) for m in re.findall(r"mean ([+-][0-9.e+]+)", output)]
    assert means and max(means) < 1e3  # hash ids (~1e19) are not statistics


def test_loading_pretrained_tok2vec_says_so(tmp_path, capsys):
    from archcli.config import load_config
    from archcli.language import Pipeline
    from archcli.training.init_tok2vec import load_pretrained_tok2vec

    config = load_config(CHARS_CFG)
    nlp = Pipeline.from_config(config)
    docs = [nlp.tokenizer("A few words to initialise with.")]
    tok2vec = nlp.get_pipe("tok2vec").model
    tok2vec.initialize(X=docs)
    weights = tmp_path / "model0.bin"
    weights.write_bytes(tok2vec.to_bytes())
    capsys.readouterr()
    load_pretrained_tok2vec(nlp, weights, config)
    out = capsys.readouterr().out
    assert "Loaded pretrained tok2vec weights from" in out and str(weights) in out


def test_debug_model_names_the_bad_line_of_its_corpus(tmp_path):
    bad = tmp_path / "bad.conllu"
    bad.write_text("1\tThe\tthe\tDET\tDT\t_\t0\troot\t_\t_\nbroken line\n\n", encoding="utf8")
    output = invoke("debug-model", TAGGER_CFG, "tagger", "--paths.train", bad, code=1)
    assert f"{bad}:2:" in "".join(output.split())  # the message may be wrapped anywhere
