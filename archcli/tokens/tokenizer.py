"""A small rule-based tokenizer for raw text: whitespace, then punctuation and clitics.

It splits leading/trailing punctuation and English clitics ("n't", "'s", …) off each
whitespace-delimited chunk, keeping exact character offsets so `doc.text == text`.
"""
import re
from typing import List, Tuple

from .doc import Doc
from .vocab import Vocab

_PREFIX = re.compile(r"""^[\[\("'“‘«<{¿¡$£€#@*&`~]""")
_SUFFIX = re.compile(
    r"""(?:[\]\)"'”’»>}.,;:!?%…]|\.\.\.|(?<=[a-zA-Z])(?:n['’]t|['’](?:s|re|ve|ll|d|m|S|RE|VE|LL|D|M)))$"""
)
# Tokens whose trailing period belongs to them.
_KEEP_WHOLE = re.compile(
    r"""^(?:https?://\S+|www\.\S+|\S+@\S+\.\w+|[A-Za-z]\.(?:[A-Za-z]\.)+|(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|vs|etc|e\.g|i\.e)\.|\d+(?:[.,:]\d+)*)$"""
)
_CHUNK = re.compile(r"\S+")


class Tokenizer:
    """Callable turning a string into a Doc."""

    def __init__(self, vocab: Vocab) -> None:
        self.vocab = vocab

    def __call__(self, text: str) -> Doc:
        words, spaces = self.split(text)
        return Doc(self.vocab, words, spaces)

    def split(self, text: str) -> Tuple[List[str], List[bool]]:
        words: List[str] = []
        spaces: List[bool] = []
        for match in _CHUNK.finditer(text):
            pieces = self._split_chunk(match.group())
            words.extend(pieces)
            spaces.extend([False] * (len(pieces) - 1))
            end = match.end()
            spaces.append(end < len(text) and text[end] == " ")
            # Other whitespace (newlines, runs of spaces) becomes its own token, as in spaCy.
            extra = re.match(r"\s+", text[end:])
            if extra and (extra.group() != " "):
                ws = extra.group()[1:] if spaces[-1] else extra.group()
                if ws:
                    words.append(ws)
                    spaces.append(False)
        if text and not words:
            words, spaces = [text], [False]
        elif text[: len(text) - len(text.lstrip())]:
            leading = text[: len(text) - len(text.lstrip())]
            words.insert(0, leading)
            spaces.insert(0, False)
        return words, spaces

    @staticmethod
    def _split_chunk(chunk: str) -> List[str]:
        prefixes: List[str] = []
        suffixes: List[str] = []
        while chunk:
            if _KEEP_WHOLE.match(chunk):
                break
            match = _PREFIX.match(chunk)
            if match and len(chunk) > 1:
                prefixes.append(match.group())
                chunk = chunk[match.end() :]
                continue
            match = _SUFFIX.search(chunk)
            if match and match.start() > 0:
                suffixes.append(match.group())
                chunk = chunk[: match.start()]
                continue
            break
        return prefixes + ([chunk] if chunk else []) + suffixes[::-1]
