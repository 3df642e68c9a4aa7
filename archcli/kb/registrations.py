"""spaCy's registered KB functions (registry.misc), so entity-linking configs resolve here."""
from pathlib import Path
from typing import Callable, Iterable, Optional

from .._registry import registry
from ..errors import ArchcliError
from ..tokens import Span, Vocab
from .knowledge_base import Candidate, InMemoryLookupKB, KnowledgeBase, _check_width


@registry.misc("spacy.EmptyKB.v1")
def empty_kb_for_config(entity_vector_length: int) -> Callable[[Vocab], KnowledgeBase]:
    """An empty KB of a width fixed in the config (the linker's `generate_empty_kb`)."""
    _check_width(entity_vector_length)

    def empty_kb_factory(vocab: Vocab) -> KnowledgeBase:
        return InMemoryLookupKB(vocab=vocab, entity_vector_length=entity_vector_length)

    return empty_kb_factory


@registry.misc("spacy.EmptyKB.v2")
def empty_kb() -> Callable[[Vocab, int], KnowledgeBase]:
    """An empty KB whose width the caller gives (spaCy's default `generate_empty_kb`)."""

    def empty_kb_factory(vocab: Vocab, entity_vector_length: int) -> KnowledgeBase:
        return InMemoryLookupKB(vocab=vocab, entity_vector_length=entity_vector_length)

    return empty_kb_factory


@registry.misc("spacy.KBFromFile.v1")
def load_kb(kb_path: Optional[Path]) -> Callable[[Vocab], KnowledgeBase]:
    """A KB read from a directory written by `archcli init-kb` or `KB.to_disk` (errors name it)."""

    def kb_from_file(vocab: Vocab) -> KnowledgeBase:
        if kb_path is None:
            raise ArchcliError("spacy.KBFromFile.v1 got kb_path = null: no KB directory given; pass --paths.kb DIR, "
                               "a directory made by `archcli init-kb`")
        kb = InMemoryLookupKB(vocab, entity_vector_length=1)  # the width comes from the file
        kb.from_disk(kb_path)
        return kb

    return kb_from_file


@registry.misc("spacy.CandidateGenerator.v1")
def create_candidates() -> Callable[[KnowledgeBase, Span], Iterable[Candidate]]:
    """Exact, case-sensitive alias lookup of the mention's text."""
    return get_candidates


@registry.misc("spacy.CandidateBatchGenerator.v1")
def create_candidates_batch() -> Callable[[KnowledgeBase, Iterable[Span]], Iterable[Iterable[Candidate]]]:
    """get_candidates for many mentions at once."""
    return get_candidates_batch


def get_candidates(kb: KnowledgeBase, mention: Span) -> Iterable[Candidate]:
    return kb.get_candidates(mention)


def get_candidates_batch(kb: KnowledgeBase, mentions: Iterable[Span]) -> Iterable[Iterable[Candidate]]:
    return kb.get_candidates_batch(mentions)
