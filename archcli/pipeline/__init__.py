"""Pipeline components; importing this registers their factories."""
from .base import Pipe, TrainablePipe
from .coref import CoreferenceResolver, SpanResolver
from .entity_linker import EntityLinker
from .factories import FACTORIES, factory, get_factory
from .parser import DependencyParser, EntityRecognizer
from .spancat import SpanCategorizer
from .tagger import Tagger
from .textcat import MultiLabelTextCategorizer, TextCategorizer
from .tok2vec import Tok2Vec
from .transformer import Transformer

__all__ = ["CoreferenceResolver", "SpanResolver", "DependencyParser", "EntityLinker", "EntityRecognizer", "Pipe", "TrainablePipe", "FACTORIES", "factory", "get_factory", "Tagger", "Tok2Vec", "Transformer",
           "MultiLabelTextCategorizer", "SpanCategorizer", "TextCategorizer"]
