"""Loading and saving model directories: what is asked for is loaded, or a clear error says why."""
import errno
import os
import re
import shutil
from pathlib import Path

import numpy
import pytest

from archcli.errors import ArchcliError, ConfigError, ModelDirError
from archcli.fileio import atomic_dir, atomic_file, write_bytes_atomic
from archcli.language import Pipeline, load
from archcli.training.corpus import Corpus

from .util import REPO, tagger_config

SAMPLES = REPO / "corpus_samples" / "conllu"
TEXTS = ["The committee approved the plan on Tuesday.", "Where did you put my keys?"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tok2vec + tagger pipeline, initialised and updated twice on the samples, then saved."""
    config = tagger_config(SAMPLES / "train.conllu", SAMPLES / "dev.conllu")
    nlp = Pipeline.from_config(config)
    examples = list(Corpus(SAMPLES / "train.conllu", limit=16)(nlp))
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(2):
        nlp.update(examples, sgd=optimizer)
    path = tmp_path_factory.mktemp("saved") / "model"
    nlp.to_disk(path)
    return nlp, path


@pytest.fixture
def model_dir(saved, tmp_path):
    """A private copy of the saved model directory, free to damage."""
    return Path(shutil.copytree(saved[1], tmp_path / "model"))


def snapshot(path: Path):
    return {p.relative_to(path): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_load_gives_the_saved_predictions(saved):
    nlp, path = saved
    loaded = load(path)
    assert loaded.pipe_names == ["tok2vec", "tagger"]
    assert [[t.tag_ for t in d] for d in loaded.pipe(TEXTS)] == [[t.tag_ for t in d] for d in nlp.pipe(TEXTS)]


# --- item 7: no silent fallback to a backup ------------------------------------------------------
def test_missing_dir_with_backup_is_an_error_naming_the_backup(model_dir):
    # What a save killed between its two renames leaves: no model, only the previous one's backup.
    backup = model_dir.with_name(f".{model_dir.name}.old-{os.getpid()}-0123abcd")
    os.replace(model_dir, backup)
    with pytest.raises(ModelDirError) as err:
        load(model_dir)
    message = str(err.value)
    assert str(backup) in message and "mv " in message and str(model_dir) in message
    assert not model_dir.exists()  # nothing moved behind the user's back


def test_missing_dir_without_backup(tmp_path):
    with pytest.raises(ModelDirError, match="does not exist"):
        load(tmp_path / "nothing")


def test_file_or_non_model_dir(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModelDirError, match="is a file"):
        load(tmp_path / "file")
    with pytest.raises(ModelDirError, match="no config.cfg"):
        load(tmp_path)


# --- item 7: exclude ---------------------------------------------------------------------------------
def test_exclude_leaves_the_component_out(saved, tmp_path):
    nlp, path = saved
    loaded = load(path, exclude=["tagger"])
    assert loaded.pipe_names == ["tok2vec"]
    assert not loaded.has_pipe("tagger")
    doc = loaded("The committee approved the plan.")
    assert doc.tensor is not None and doc.tensor.shape[0] == len(doc)
    assert [t.tag_ for t in doc] == [""] * len(doc)
    assert loaded.config["nlp"]["pipeline"] == ["tok2vec"] and "tagger" not in loaded.config["components"]
    # What was loaded saves and reloads as itself.
    loaded.to_disk(tmp_path / "tok2vec-only")
    again = load(tmp_path / "tok2vec-only")
    assert again.pipe_names == ["tok2vec"]
    numpy.testing.assert_array_equal(again(TEXTS[0]).tensor, loaded(TEXTS[0]).tensor)


def test_excluding_a_listened_to_tok2vec_is_a_clear_error(saved):
    with pytest.raises(ArchcliError) as err:
        load(saved[1], exclude=["tok2vec"])
    message = str(err.value)
    assert "'tagger'" in message and "'tok2vec'" in message and "upstream" in message
    # Excluding both is fine.
    assert load(saved[1], exclude=["tok2vec", "tagger"]).pipe_names == []


def test_excluding_an_unknown_component_is_an_error(saved):
    with pytest.raises(ArchcliError, match="'tager'.*tok2vec, tagger"):
        load(saved[1], exclude=["tager"])


def test_exclude_keeps_config_references(saved, tmp_path):
    # The excluded load's config was the interpolated one, so saving it wrote resolved paths (review item 9).
    _, path = saved
    assert "${paths.train}" in (path / "config.cfg").read_text()
    loaded = load(path, exclude=["tagger"])
    assert loaded.config["corpora"]["train"]["path"] == "${paths.train}"
    loaded.to_disk(tmp_path / "out")
    text = (tmp_path / "out" / "config.cfg").read_text()
    assert "${paths.train}" in text and "${paths.dev}" in text and "[components.tagger" not in text


def test_exclude_inlines_references_into_the_excluded_block():
    from thinc.api import Config

    block = """
[components.{name}]
factory = "tagger"

[components.{name}.model]
@architectures = "spacy.Tagger.v2"

[components.{name}.model.tok2vec]
@architectures = "spacy.HashEmbedCNN.v2"
pretrained_vectors = null
width = {width}
depth = 1
embed_size = 500
window_size = 1
maxout_pieces = 3
subword_features = true
"""
    text = '[nlp]\nlang = "en"\npipeline = ["a", "b"]\n\n[components]\n' + block.format(name="a", width=64)
    text += block.format(name="b", width="${components.a.model.tok2vec.width}")
    nlp = Pipeline.from_config(Config().from_str(text), exclude=["a"])
    assert nlp.config["components"]["b"]["model"]["tok2vec"]["width"] == 64
    assert "components.a" not in nlp.config.to_str()
    Pipeline.from_config(Config().from_str(nlp.config.to_str()))  # what it saves builds again


def test_exclude_filters_meta(model_dir):
    # meta still listed the excluded components, their labels and scores (review item 10).
    import json

    meta = json.loads((model_dir / "meta.json").read_text())
    meta.update(performance={"tag_acc": 0.9, "score": 0.9}, score_weights={"tag_acc": 1.0},
                frozen_components=["tagger"])
    (model_dir / "meta.json").write_text(json.dumps(meta))
    assert "tagger" in meta["labels"] and "tagger" in meta["pipeline"]
    loaded = load(model_dir, exclude=["tagger"])
    assert loaded.meta["pipeline"] == ["tok2vec"]
    assert "tagger" not in loaded.meta["labels"]
    assert loaded.meta["performance"] == {"score": 0.9} and loaded.meta["score_weights"] == {}
    assert loaded.meta["frozen_components"] == []
    assert load(model_dir).meta["performance"] == meta["performance"]


def test_component_cfg_is_read_once(model_dir, monkeypatch):
    # load read each cfg and from_disk read it again (review item 17).
    import archcli.fileio
    import archcli.language
    import archcli.pipeline.base

    reads = []
    original = archcli.fileio.read_json

    def counting(path, *args, **kwargs):
        reads.append(Path(path))
        return original(path, *args, **kwargs)

    for module in (archcli.fileio, archcli.language, archcli.pipeline.base):
        monkeypatch.setattr(module, "read_json", counting)
    load(model_dir)
    cfg_reads = sorted(str(p.relative_to(model_dir)) for p in reads if p.name == "cfg")
    assert cfg_reads == ["tagger/cfg", "tok2vec/cfg"]


def test_component_cfg_that_is_not_an_object(model_dir):
    (model_dir / "tagger" / "cfg").write_text("[1, 2]")
    with pytest.raises(ModelDirError, match="expected a JSON object") as err:
        load(model_dir)
    assert str(model_dir / "tagger" / "cfg") in str(err.value)


# --- item 7 / 17: damaged directories name what is damaged ----------------------------------------
def _remove_component(path: Path) -> Path:
    shutil.rmtree(path / "tagger")
    return path / "tagger"


def _truncate(name: str):
    def damage(path: Path) -> Path:
        data = (path / name).read_bytes()
        (path / name).write_bytes(data[: len(data) // 2])
        return path / name

    return damage


def _binary(name: str):
    def damage(path: Path) -> Path:
        (path / name).write_bytes(b"\xff\xfe\x00garbage")
        return path / name

    return damage


@pytest.mark.parametrize(
    "damage,error",
    [
        (_remove_component, ModelDirError),
        (_truncate("meta.json"), ModelDirError),
        (_binary("meta.json"), ModelDirError),
        (_truncate("tagger/cfg"), ModelDirError),
        (_binary("tok2vec/cfg"), ModelDirError),
        (_truncate("tagger/model"), ModelDirError),
        (_truncate("tok2vec/model"), ModelDirError),
        (_binary("config.cfg"), ConfigError),
    ],
    ids=["no-component-dir", "meta-truncated", "meta-binary", "cfg-truncated", "cfg-binary",
         "tagger-weights-truncated", "tok2vec-weights-truncated", "config-binary"],
)
def test_damaged_directory_names_what_is_damaged(model_dir, damage, error):
    damaged = damage(model_dir)
    with pytest.raises(error) as err:
        load(model_dir)
    assert str(damaged) in str(err.value)


# --- atomic saves --------------------------------------------------------------------------------------
def test_failed_save_removes_its_temporary_and_keeps_the_model(saved, model_dir, monkeypatch):
    nlp, _ = saved
    before = snapshot(model_dir)

    def explode(self, path):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(type(nlp.get_pipe("tagger")), "to_disk", explode)
    with pytest.raises(RuntimeError):
        nlp.to_disk(model_dir)
    assert snapshot(model_dir) == before
    assert sorted(p.name for p in model_dir.parent.iterdir()) == ["model"]


def test_save_removes_temporaries_of_a_killed_run(saved, tmp_path):
    nlp, _ = saved
    target = tmp_path / "model"
    # A writer that no longer runs (pid far above pid_max) left a half-written directory.
    stale = tmp_path / ".model.tmp-99999999-0123abcd"
    stale.mkdir()
    (stale / "meta.json").write_text("{")
    live = tmp_path / f".model.tmp-{os.getppid()}-0123abcd"  # a live writer's (our parent): left alone
    live.mkdir()
    mine = tmp_path / f".model.tmp-{os.getpid()}-0123abcd"  # another writer in this process: left alone
    mine.mkdir()
    nlp.to_disk(target)
    assert not stale.exists() and live.exists() and mine.exists()
    assert load(target).pipe_names == ["tok2vec", "tagger"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".model.") and p not in (live, mine)]


def test_temporaries_carry_a_random_token(tmp_path, monkeypatch):
    import archcli.fileio as fileio

    names = []
    real = fileio._temp_sibling

    def recording(path, kind):
        sibling = real(path, kind)
        names.append(sibling.name)
        return sibling

    monkeypatch.setattr(fileio, "_temp_sibling", recording)
    fileio.write_text_atomic(tmp_path / "a.txt", "x")
    fileio.write_text_atomic(tmp_path / "a.txt", "y")
    assert len(names) == 2 and names[0] != names[1]
    assert all(re.fullmatch(rf"\.a\.txt\.tmp-{os.getpid()}-[0-9a-f]{{8}}", name) for name in names)
    assert (tmp_path / "a.txt").read_text() == "y"


def test_output_dir_that_cannot_be_made_is_one_error(tmp_path, monkeypatch):
    from archcli.fileio import make_output_dir

    def refuse(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(ArchcliError, match="cannot create the output directory: Read-only file system"):
        make_output_dir(tmp_path / "out")


def test_save_onto_a_file_or_under_a_file_is_a_clear_error(saved, tmp_path):
    nlp, _ = saved
    (tmp_path / "file").write_text("keep me")
    with pytest.raises(ArchcliError, match="not a directory"):
        nlp.to_disk(tmp_path / "file")
    with pytest.raises(ArchcliError, match="it is a file"):
        nlp.to_disk(tmp_path / "file" / "model")
    assert (tmp_path / "file").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_full_disk_removes_the_temporary_and_keeps_the_model(saved, model_dir, monkeypatch):
    nlp, _ = saved
    before = snapshot(model_dir)

    def full(self, path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(type(nlp.get_pipe("tagger")), "to_disk", full)
    with pytest.raises(OSError, match="No space left"):
        nlp.to_disk(model_dir)
    assert snapshot(model_dir) == before
    assert sorted(p.name for p in model_dir.parent.iterdir()) == ["model"]


def test_atomic_file_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "weights.bin"
    write_bytes_atomic(target, b"good")
    with pytest.raises(KeyboardInterrupt):
        with atomic_file(target) as tmp:
            tmp.write_bytes(b"half")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == ["weights.bin"]
    write_bytes_atomic(target, b"better")
    assert target.read_bytes() == b"better" and [p.name for p in tmp_path.iterdir()] == ["weights.bin"]


def test_atomic_dir_replaces_the_whole_directory(tmp_path):
    target = tmp_path / "out"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
        (tmp / "b").write_text("1")
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["a"] and (target / "a").read_text() == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
