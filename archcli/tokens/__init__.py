from .doc import Doc, Span, Token
from .docbin import DocBin, read_docbin
from .example import Example
from .strings import StringStore, hash_string
from .tokenizer import Tokenizer
from .vectors import Vectors, read_word2vec_text
from .vocab import Vocab

__all__ = [
    "Doc", "DocBin", "Example", "Span", "Token", "StringStore", "hash_string", "Tokenizer", "Vectors", "Vocab",
    "read_docbin", "read_word2vec_text",
]
