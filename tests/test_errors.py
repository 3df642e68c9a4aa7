"""Bad input: one readable message naming the file:line or config key, exit 1, no traceback."""
import pytest
from typer.testing import CliRunner

from archcli.cli import app

from .util import TAGGER_CFG, write_conllu_slice

runner = CliRunner()


def run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    return result, output


def assert_clean_failure(result, output, *needles):
    assert result.exit_code == 1, output
    assert "Traceback" not in output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    for needle in needles:
        assert needle in output, f"{needle!r} not in {output!r}"


@pytest.fixture
def data(ud_dir, tmp_path):
    train = write_conllu_slice(ud_dir / "train.conllu", tmp_path / "train.conllu", 0, 40)
    dev = write_conllu_slice(ud_dir / "dev.conllu", tmp_path / "dev.conllu", 0, 10)
    return train, dev


def train_args(cfg, data, tmp_path, *extra):
    return ["train", cfg, "--output", tmp_path / "out", "--paths.train", data[0], "--paths.dev", data[1],
            "--training.max_steps", "2", *extra]


def edited_config(tmp_path, old, new):
    text = TAGGER_CFG.read_text()
    assert old in text
    path = tmp_path / "edited.cfg"
    path.write_text(text.replace(old, new))
    return path


def test_unknown_architecture(tmp_path, data):
    cfg = edited_config(tmp_path, '"spacy.HashEmbedCNN.v2"', '"spacy.HashEmbedCNN.v9"')
    result, output = run(*train_args(cfg, data, tmp_path))
    assert_clean_failure(result, output, "components.tok2vec.model.@architectures", "spacy.HashEmbedCNN.v9",
                         "spacy.HashEmbedCNN.v2")


def test_missing_argument(tmp_path, data):
    # Arguments the factory defaults cannot fill (the listener is not the default model).
    cfg = edited_config(tmp_path, "width = ${components.tok2vec.model.width}\n", "")
    result, output = run(*train_args(cfg, data, tmp_path))
    assert_clean_failure(result, output, "components.tagger.model.tok2vec.width", "missing")


def test_wrong_typed_argument(tmp_path, data):
    cfg = edited_config(tmp_path, "depth = 4\n", 'depth = "deep"\n')
    result, output = run(*train_args(cfg, data, tmp_path))
    assert_clean_failure(result, output, "components.tok2vec", "depth")


def test_incompatible_widths(tmp_path, data):
    cfg = edited_config(tmp_path, "width = ${components.tok2vec.model.width}", "width = 64")
    result, output = run(*train_args(cfg, data, tmp_path))
    assert_clean_failure(result, output, "components.tagger.model.tok2vec.width", "64", "96")


def test_malformed_config_file(tmp_path, data):
    path = tmp_path / "broken.cfg"
    path.write_text("[nlp\nlang = en\n")
    result, output = run(*train_args(path, data, tmp_path))
    assert_clean_failure(result, output, "broken.cfg")


def test_conllu_wrong_column_count(tmp_path, data):
    bad = tmp_path / "bad.conllu"
    bad.write_text("# text = Hi there\n1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_\n2\tthere\tthere\tADV\n\n")
    result, output = run(*train_args(TAGGER_CFG, (bad, data[1]), tmp_path))
    assert_clean_failure(result, output, "bad.conllu:3", "10 tab-separated columns")


def test_conllu_bad_head(tmp_path, data):
    bad = tmp_path / "badhead.conllu"
    bad.write_text("1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_\n2\tthere\tthere\tADV\tRB\t_\t7\tadvmod\t_\t_\n\n")
    result, output = run(*train_args(TAGGER_CFG, (bad, data[1]), tmp_path))
    assert_clean_failure(result, output, "badhead.conllu:2", "head 7")


def test_missing_corpus_path(tmp_path, data):
    result, output = run(*train_args(TAGGER_CFG, (tmp_path / "nope.conllu", data[1]), tmp_path))
    assert_clean_failure(result, output, "nope.conllu", "does not exist")


def test_empty_corpus(tmp_path, data):
    empty = tmp_path / "empty.conllu"
    empty.write_text("\n")
    result, output = run(*train_args(TAGGER_CFG, (empty, data[1]), tmp_path))
    assert_clean_failure(result, output, "empty.conllu", "no documents")


def test_unknown_override_section_value(tmp_path, data):
    result, output = run(*train_args(TAGGER_CFG, data, tmp_path, "--training.frozen_components", '["parser"]'))
    assert_clean_failure(result, output, "training.frozen_components", "parser")


def test_frozen_tok2vec_needs_annotating(tmp_path, data):
    result, output = run(*train_args(TAGGER_CFG, data, tmp_path, "--training.frozen_components", '["tok2vec"]'))
    assert_clean_failure(result, output, "annotating_components")


def test_evaluate_missing_model(tmp_path, data):
    result, output = run("evaluate", tmp_path / "no-model", data[1])
    assert_clean_failure(result, output, "no-model", "does not exist")


def test_gpu_without_cupy(tmp_path, data):
    pytest.importorskip("torch")
    try:
        import cupy  # noqa: F401

        pytest.skip("cupy present")
    except ImportError:
        pass
    result, output = run(*train_args(TAGGER_CFG, data, tmp_path), "--gpu-id", "0")
    assert_clean_failure(result, output, "--gpu-id 0")
