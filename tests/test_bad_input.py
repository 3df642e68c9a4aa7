"""The bad-input battery: each case runs the CLI on one user mistake and expects exit 1, one
message naming the file, line or config key, no traceback, and an earlier run's model directory
left byte-identical.

Cases are kept fast: the shipped samples in corpus_samples/, `--training.max_steps 2`.
"""
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional

import pytest
from typer.testing import CliRunner

from archcli.cli import app

from .util import REPO

CONFIGS = REPO / "configs"
TAGGER_CFG = CONFIGS / "tagger.cfg"
NER_CFG = CONFIGS / "ner.cfg"
CHARS_CFG = CONFIGS / "pretrain_characters.cfg"
VECTORS_CFG = CONFIGS / "pretrain_vectors.cfg"
TRAIN = REPO / "corpus_samples" / "conllu" / "train.conllu"
DEV = REPO / "corpus_samples" / "conllu" / "dev.conllu"
NER_TRAIN = REPO / "corpus_samples" / "ner" / "train.iob2"
NER_DEV = REPO / "corpus_samples" / "ner" / "dev.iob2"
GOOD_ROW = "1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_\n"

runner = CliRunner()


def invoke(args: List[object]):
    result = runner.invoke(app, [str(a) for a in args])
    output = result.output
    if result.stderr_bytes is not None and result.stderr not in output:
        output += result.stderr
    return result, output


ANSI = re.compile(r"\x1b\[[0-9;]*m")
MARKS = ("✘", "✔", "ℹ", "⚠")


def assert_one_clear_error(result, output: str, needles: List[str]) -> str:
    """Exit 1, no traceback, exactly one error message, and it contains every needle."""
    assert result.exit_code == 1, output
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # not a crash caught by the runner
    assert "Traceback" not in output, output
    errors = error_messages(output)
    assert len(errors) == 1, output
    for needle in needles:
        assert needle in errors[0], f"{needle!r} not in {errors[0]!r}"
    return errors[0]


def error_messages(output: str) -> List[str]:
    """The `✘` messages in the output, each re-joined from the lines wasabi wrapped it over."""
    messages: List[str] = []
    current: Optional[List[str]] = None
    for line in ANSI.sub("", output).splitlines():
        stripped = line.strip()
        if stripped.startswith(MARKS) or not stripped:
            if current is not None:
                messages.append(" ".join(current).strip())
            current = [stripped[1:].strip()] if stripped.startswith("✘") else None
        elif current is not None:
            current.append(stripped)
    if current is not None:
        messages.append(" ".join(current).strip())
    return messages


def snapshot(path: Path) -> Dict[str, bytes]:
    """Every file under `path` (or the file itself) with its bytes."""
    if path.is_file():
        return {path.name: path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def previous_run(tmp_path_factory) -> Path:
    """The output directory of an earlier, successful run: model-best, model-last, the log."""
    out = tmp_path_factory.mktemp("previous") / "out"
    result, output = invoke(["train", TAGGER_CFG, "--output", out, "--paths.train", TRAIN, "--paths.dev", DEV,
                             "--training.max_steps", 2, "--training.eval_frequency", 1])
    assert result.exit_code == 0, output
    assert (out / "model-best" / "config.cfg").exists() and (out / "model-last" / "meta.json").exists()
    return out


class Env(NamedTuple):
    tmp: Path
    out: Path  # a copy of the previous run's output directory

    def write(self, name: str, text: str) -> Path:
        path = self.tmp / name
        path.write_text(text, encoding="utf8")
        return path

    def config(self, old: str, new: str, base: Path = TAGGER_CFG, name: str = "edited.cfg") -> Path:
        text = base.read_text(encoding="utf8")
        assert old in text, old
        return self.write(name, text.replace(old, new, 1))

    def train(self, cfg: Path = TAGGER_CFG, *extra, train: Path = TRAIN, dev: Path = DEV) -> List[object]:
        return ["train", cfg, "--output", self.out, "--paths.train", train, "--paths.dev", dev,
                "--training.max_steps", 2, *extra]

    def train_ner(self, *extra, train: Path = NER_TRAIN, dev: Path = NER_DEV) -> List[object]:
        return self.train(NER_CFG, *extra, train=train, dev=dev)


class Case(NamedTuple):
    id: str
    args: Callable[[Env], List[object]]
    needles: Callable[[Env], List[str]]


def _conllu(env: Env, name: str, rows: str) -> Path:
    return env.write(name, rows)


CASES = [
    # --- configs ---------------------------------------------------------------------------------
    Case("config-syntax", lambda e: e.train(e.write("broken.cfg", "[nlp\nlang = en\n")),
         lambda e: ["broken.cfg"]),
    Case("config-missing", lambda e: e.train(e.tmp / "nope.cfg"), lambda e: ["nope.cfg"]),
    Case("unknown-architecture",
         lambda e: e.train(e.config('"spacy.HashEmbedCNN.v2"', '"spacy.HashEmbedCNN.v9"')),
         lambda e: ["components.tok2vec.model.@architectures", "spacy.HashEmbedCNN.v9"]),
    Case("unknown-factory", lambda e: e.train(e.config('factory = "tagger"', 'factory = "tagerr"')),
         lambda e: ["components.tagger.factory", "tagerr"]),
    Case("wrong-typed-argument", lambda e: e.train(e.config("depth = 4\n", 'depth = "deep"\n')),
         lambda e: ["components.tok2vec", "depth"]),
    Case("incompatible-widths",
         lambda e: e.train(e.config("width = ${components.tok2vec.model.width}", "width = 64")),
         lambda e: ["components.tagger.model.tok2vec.width"]),
    Case("width-zero", lambda e: e.train(e.config("width = 96", "width = 0")),
         lambda e: ["components.tok2vec.model.width", "width = 0"]),
    Case("tagger-nO-too-small", lambda e: e.train(e.config("nO = null", "nO = 3")),
         lambda e: ["components.tagger.model.nO"]),
    Case("listener-upstream-to-nothing", lambda e: e.train(e.config('upstream = "*"', 'upstream = "tok2vecc"')),
         lambda e: ["upstream", "tok2vecc"]),
    Case("frozen-unknown-component", lambda e: e.train(TAGGER_CFG, "--training.frozen_components", '["parser"]'),
         lambda e: ["training.frozen_components", "parser"]),
    # --- overrides and values ------------------------------------------------------------------------
    Case("override-misspelled", lambda e: e.train(TAGGER_CFG, "--training.max_step", 5),
         lambda e: ["training.max_step", "max_steps"]),
    Case("override-unknown-key", lambda e: e.train(TAGGER_CFG, "--training.nosuch", 3),
         lambda e: ["training.nosuch"]),
    Case("override-unknown-section", lambda e: e.train(TAGGER_CFG, "--nosuch.key", 3),
         lambda e: ["nosuch"]),
    Case("max-steps-not-a-number", lambda e: e.train(TAGGER_CFG, "--training.max_steps", "abc"),
         lambda e: ["training.max_steps", "abc"]),
    Case("patience-not-a-number", lambda e: e.train(TAGGER_CFG, "--training.patience", "abc"),
         lambda e: ["training.patience"]),
    Case("eval-frequency-zero", lambda e: e.train(TAGGER_CFG, "--training.eval_frequency", 0),
         lambda e: ["training.eval_frequency"]),
    Case("dropout-out-of-range", lambda e: e.train(TAGGER_CFG, "--training.dropout", 1.5),
         lambda e: ["training.dropout"]),
    Case("batch-size-zero", lambda e: e.train(TAGGER_CFG, "--nlp.batch_size", 0),
         lambda e: ["nlp.batch_size"]),
    Case("learn-rate-nan", lambda e: e.train(TAGGER_CFG, "--training.optimizer.learn_rate", "nan"),
         lambda e: ["learn_rate"]),
    Case("max-epochs-negative", lambda e: e.train(TAGGER_CFG, "--training.max_epochs", -2),
         lambda e: ["training.max_epochs", "-1 to stream"]),
    Case("batcher-tolerance-negative", lambda e: e.train(TAGGER_CFG, "--training.batcher.tolerance", -1),
         lambda e: ["training.batcher.tolerance"]),
    Case("optimizer-L2-negative", lambda e: e.train(TAGGER_CFG, "--training.optimizer.L2", -1),
         lambda e: ["training.optimizer.L2"]),
    Case("learn-rate-zero", lambda e: e.train(TAGGER_CFG, "--training.optimizer.learn_rate", 0),
         lambda e: ["training.optimizer.learn_rate"]),
    Case("learn-rate-not-a-number", lambda e: e.train(TAGGER_CFG, "--training.optimizer.learn_rate", "abc"),
         lambda e: ["training.optimizer.learn_rate", "a number or a schedule"]),
    Case("grad-clip-negative", lambda e: e.train(TAGGER_CFG, "--training.optimizer.grad_clip", -1),
         lambda e: ["training.optimizer.grad_clip"]),
    Case("beta1-one", lambda e: e.train(TAGGER_CFG, "--training.optimizer.beta1", 1),
         lambda e: ["training.optimizer.beta1", "[0, 1)"]),
    Case("beta2-negative", lambda e: e.train(TAGGER_CFG, "--training.optimizer.beta2", -0.1),
         lambda e: ["training.optimizer.beta2"]),
    Case("eps-zero", lambda e: e.train(TAGGER_CFG, "--training.optimizer.eps", 0),
         lambda e: ["training.optimizer.eps"]),
    Case("label-smoothing-above-one", lambda e: e.train(TAGGER_CFG, "--components.tagger.label_smoothing", 2),
         lambda e: ["components.tagger.label_smoothing", "[0, 1)"]),
    Case("label-smoothing-negative", lambda e: e.train(TAGGER_CFG, "--components.tagger.label_smoothing", -0.5),
         lambda e: ["components.tagger.label_smoothing"]),
    Case("label-smoothing-past-thincs-limit",
         lambda e: e.train(TAGGER_CFG, "--components.tagger.label_smoothing", 0.999),
         lambda e: ["components.tagger.label_smoothing", "(n - 1) / n"]),
    Case("gpu-id-on-cpu", lambda e: e.train(TAGGER_CFG, "--gpu-id", 0), lambda e: ["--gpu-id 0"]),
    # --- corpora -------------------------------------------------------------------------------------
    Case("corpus-missing", lambda e: e.train(train=e.tmp / "nope.conllu"), lambda e: ["nope.conllu"]),
    Case("corpus-max-length-negative", lambda e: e.train(TAGGER_CFG, "--corpora.train.max_length", -3),
         lambda e: ["corpora.train.max_length"]),
    Case("corpus-limit-negative", lambda e: e.train(TAGGER_CFG, "--corpora.train.limit", -1),
         lambda e: ["corpora.train.limit"]),
    Case("corpus-empty", lambda e: e.train(train=e.write("empty.conllu", "\n")),
         lambda e: ["empty.conllu", "no documents"]),
    Case("conllu-column-count",
         lambda e: e.train(train=_conllu(e, "bad.conllu", "# text = Hi there\n" + GOOD_ROW + "2\tthere\tthere\tADV\n\n")),
         lambda e: ["bad.conllu:3", "10 tab-separated columns"]),
    Case("conllu-bad-head",
         lambda e: e.train(train=_conllu(e, "badhead.conllu",
                                         GOOD_ROW + "2\tthere\tthere\tADV\tRB\t_\t7\tadvmod\t_\t_\n\n")),
         lambda e: ["badhead.conllu:2", "head 7"]),
    Case("conllu-bad-token-id",
         lambda e: e.train(train=_conllu(e, "badid.conllu", GOOD_ROW + "x\tthere\tthere\tADV\tRB\t_\t1\tadvmod\t_\t_\n\n")),
         lambda e: ["badid.conllu:2"]),
    Case("conllu-binary", lambda e: e.train(train=_binary(e, "binary.conllu")),
         lambda e: ["binary.conllu"]),
    Case("dev-corpus-bad", lambda e: e.train(dev=_conllu(e, "baddev.conllu", "1\tHi\n\n")),
         lambda e: ["baddev.conllu:1"]),
    Case("iob-bad-tag", lambda e: e.train_ner(train=e.write("bad.iob2", "1\tMaria\tX-PER\t-\t-\n\n")),
         lambda e: ["bad.iob2:1"]),
    Case("iob-I-after-O",
         lambda e: e.train_ner(train=e.write("io.iob2", "1\tflew\tO\t-\t-\n2\tLopez\tI-PER\t-\t-\n\n")),
         lambda e: ["io.iob2:2"]),
    # --- output paths --------------------------------------------------------------------------------
    Case("output-is-a-file", lambda e: ["train", TAGGER_CFG, "--output", _file(e, "taken"), "--paths.train", TRAIN,
                                        "--paths.dev", DEV, "--training.max_steps", 2],
         lambda e: [str(e.tmp / "taken")]),
    Case("output-under-a-file",
         lambda e: ["train", TAGGER_CFG, "--output", _file(e, "taken") / "out", "--paths.train", TRAIN,
                    "--paths.dev", DEV, "--training.max_steps", 2],
         lambda e: [str(e.tmp / "taken")]),
    # --- evaluate / debug-model / pretrain -----------------------------------------------------------
    Case("evaluate-missing-model", lambda e: ["evaluate", e.tmp / "no-model", DEV], lambda e: ["no-model"]),
    Case("evaluate-non-model-dir", lambda e: ["evaluate", e.tmp, DEV], lambda e: ["no config.cfg"]),
    Case("evaluate-model-is-a-file", lambda e: ["evaluate", _file(e, "model.bin"), DEV], lambda e: ["model.bin"]),
    Case("evaluate-damaged-meta", lambda e: ["evaluate", _damage(e, "meta.json"), DEV],
         lambda e: [str(e.out / "model-best" / "meta.json")]),
    Case("evaluate-damaged-cfg", lambda e: ["evaluate", _damage(e, "tagger/cfg"), DEV],
         lambda e: [str(e.out / "model-best" / "tagger" / "cfg")]),
    Case("evaluate-truncated-weights", lambda e: ["evaluate", _damage(e, "tok2vec/model"), DEV],
         lambda e: [str(e.out / "model-best" / "tok2vec" / "model")]),
    Case("evaluate-missing-component-dir", lambda e: ["evaluate", _remove(e, "tagger"), DEV],
         lambda e: [str(e.out / "model-best" / "tagger")]),
    Case("evaluate-missing-corpus", lambda e: ["evaluate", e.out / "model-best", e.tmp / "nodev.conllu"],
         lambda e: ["nodev.conllu"]),
    Case("evaluate-bad-corpus",
         lambda e: ["evaluate", e.out / "model-best", _conllu(e, "evalbad.conllu", "1\tHi\n\n")],
         lambda e: ["evalbad.conllu:1"]),
    Case("evaluate-output-under-a-file",
         lambda e: ["evaluate", e.out / "model-best", DEV, "--output", e.out / "model-best" / "meta.json" / "m.json"],
         lambda e: [str(e.out / "model-best" / "meta.json")]),
    Case("evaluate-output-is-a-directory", lambda e: ["evaluate", e.out / "model-best", DEV, "--output", e.out],
         lambda e: [str(e.out), "is a directory"]),
    Case("debug-model-unknown-component", lambda e: ["debug-model", TAGGER_CFG, "parserr"], lambda e: ["parserr"]),
    Case("pretrain-without-pretraining-block", lambda e: ["pretrain", TAGGER_CFG, e.tmp / "pre"],
         lambda e: ["[pretraining]"]),
    # A refused pretrain into an existing folder leaves its config.cfg (the previous run's) alone.
    Case("pretrain-max-epochs-negative", lambda e: ["pretrain", VECTORS_CFG, e.out, "--pretraining.max_epochs", -1],
         lambda e: ["pretraining.max_epochs"]),
    Case("pretrain-learn-rate-not-a-number",
         lambda e: ["pretrain", VECTORS_CFG, e.out, "--pretraining.optimizer.learn_rate", "abc"],
         lambda e: ["pretraining.optimizer.learn_rate", "a number or a schedule"]),
    Case("pretrain-corpus-max-length-negative",
         lambda e: ["pretrain", VECTORS_CFG, e.out, "--corpora.pretrain.max_length", -3],
         lambda e: ["corpora.pretrain.max_length"]),
    Case("pretrain-missing-raw-text",
         lambda e: ["pretrain", CHARS_CFG, e.tmp / "pre", "--paths.raw_text", e.tmp / "none.jsonl"],
         lambda e: ["none.jsonl"]),
]


def _binary(env: Env, name: str) -> Path:
    path = env.tmp / name
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\xfd" * 20)
    return path


def _file(env: Env, name: str) -> Path:
    path = env.tmp / name
    path.write_text("not a directory\n")
    return path


def _damage(env: Env, name: str) -> Path:
    """Truncate a file of the previous run's model-best (the case then checks nothing else moved)."""
    path = env.out / "model-best" / name
    data = path.read_bytes()
    path.write_bytes(data[: max(1, len(data) // 2)] + b"\xff")
    return env.out / "model-best"


def _remove(env: Env, name: str) -> Path:
    shutil.rmtree(env.out / "model-best" / name)
    return env.out / "model-best"


def _params():
    params = []
    for case in CASES:
        params.append(pytest.param(case, id=case.id))
    return params


@pytest.mark.parametrize("case", _params())
def test_bad_input(case: Case, previous_run: Path, tmp_path: Path):
    env = Env(tmp_path, Path(shutil.copytree(previous_run, tmp_path / "out")))
    args = case.args(env)
    needles = case.needles(env)
    files = [p for p in tmp_path.iterdir() if p.is_file()]
    before = {p: snapshot(p) for p in [env.out, *files]}
    result, output = invoke(args)
    assert_one_clear_error(result, output, needles)
    for path, files_before in before.items():
        assert snapshot(path) == files_before, f"{path} changed"
    leftovers = [p.name for p in env.out.iterdir() if p.name.startswith(".")]
    assert not leftovers, leftovers


def test_utf8_bom_is_accepted(tmp_path):
    """A byte-order mark at the start of a corpus file is not a column-count error."""
    bom = tmp_path / "bom.conllu"
    bom.write_bytes(b"\xef\xbb\xbf" + TRAIN.read_bytes())
    result, output = invoke(["train", TAGGER_CFG, "--output", tmp_path / "out", "--paths.train", bom,
                             "--paths.dev", DEV, "--training.max_steps", 2])
    assert result.exit_code == 0, output
    assert (tmp_path / "out" / "model-last" / "config.cfg").exists()


def test_the_installed_command_prints_no_traceback(tmp_path):
    """The real entry point (not the test runner) turns a user error into one line and exit 1."""
    broken = tmp_path / "broken.cfg"
    broken.write_text("[nlp\nlang = en\n")
    exe = Path(sys.executable).with_name("archcli")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "archcli"]
    result = subprocess.run([*cmd, "train", str(broken), "--output", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "broken.cfg" in result.stdout + result.stderr
    assert not (tmp_path / "out").exists()
