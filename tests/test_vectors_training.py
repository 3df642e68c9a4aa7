"""Static vectors from `paths.vectors` feed `include_static_vectors` through training and reload."""
import numpy

from archcli.language import load
from archcli.training.loop import train

from .util import tagger_config, write_conllu_slice


def test_train_with_static_vectors(ud_dir, vectors_path, tmp_path):
    train_path = write_conllu_slice(ud_dir / "train.conllu", tmp_path / "train.conllu", 0, 200)
    dev_path = write_conllu_slice(ud_dir / "dev.conllu", tmp_path / "dev.conllu", 0, 50)
    config = tagger_config(train_path, dev_path, **{
        "paths.vectors": str(vectors_path),
        "components.tok2vec.model.pretrained_vectors": True,
        "training.max_steps": 30, "training.eval_frequency": 30,
    })
    nlp = train(config, tmp_path / "out")
    assert nlp.vocab.vectors.shape == (24847, 100)
    static = [node for node in nlp.get_pipe("tok2vec").model.walk() if node.name == "static_vectors"]
    assert static and static[0].get_dim("nM") == 100
    loaded = load(tmp_path / "out" / "model-last")
    assert loaded.vocab.vectors.shape == (24847, 100)
    text = "The house stood by the river."
    a = nlp.get_pipe("tok2vec").model.predict([nlp.make_doc(text)])[0]
    b = loaded.get_pipe("tok2vec").model.predict([loaded.make_doc(text)])[0]
    numpy.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
