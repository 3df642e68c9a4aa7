"""Knowledge bases for entity linking: entities, aliases with priors, entity vectors."""
from . import registrations  # noqa: F401  (registers spacy.EmptyKB.v1, spacy.KBFromFile.v1, …)
from .knowledge_base import Candidate, InMemoryLookupKB, KnowledgeBase
from .registrations import get_candidates, get_candidates_batch

__all__ = ["Candidate", "InMemoryLookupKB", "KnowledgeBase", "get_candidates", "get_candidates_batch"]
