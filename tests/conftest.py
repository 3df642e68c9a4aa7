from pathlib import Path

import pytest

from archcli._registry import ensure_populated

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
CORPORA = SHARED / "corpora"
SAMPLES = REPO / "corpus_samples"
SPEC = SHARED / "spec" / "model-architectures.md"

ensure_populated()


def require(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"missing test data: {path} (the shared corpora must sit beside the repo)")
    return path


@pytest.fixture(scope="session")
def ud_dir() -> Path:
    return require(CORPORA / "ud_en_ewt")


@pytest.fixture(scope="session")
def vectors_path() -> Path:
    return require(CORPORA / "vectors" / "word2vec_en_100d.vec.gz")


@pytest.fixture(scope="session")
def spec_text() -> str:
    return require(SPEC).read_text(encoding="utf8")


@pytest.fixture
def vocab():
    from archcli.tokens import Vocab

    return Vocab()


@pytest.fixture
def sample_docs(vocab):
    from archcli.tokens import Tokenizer

    tokenizer = Tokenizer(vocab)
    texts = [
        "The quick brown fox jumped over the lazy dog.",
        "Isn't it strange?",
        "Prices rose 3.5% in 2024, analysts said.",
        "",
        "Hello",
    ]
    return [tokenizer(text) for text in texts]
