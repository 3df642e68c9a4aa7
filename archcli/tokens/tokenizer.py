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
# Tokens whose trailing period belongs to them (matched in full: see _keep_whole).
_KEEP_WHOLE = re.compile(
    r"""https?://\S+|www\.\S+|[A-Za-z]\.(?:[A-Za-z]\.)+|(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|vs|etc|e\.g|i\.e)\.|\d+(?:[.,:]\d+)*"""
)
# E-mail addresses (`\S+@\S+\.\w+`) are kept whole too: see _is_email.
_WORD_TAIL = re.compile(r"\w+")
# Cheap necessary conditions for _KEEP_WHOLE on strings longer than "Prof.", so that a long
# run of punctuation is not re-matched in full after each character split off it.
_URL_START = ("http://", "https://", "www.")
_ABBR_OR_NUMBER_START = re.compile(r"[A-Za-z]\.|\d")
_ABBR_OR_NUMBER_END = re.compile(r"[.\d]")
# The longest suffix is 3 characters plus the letter its lookbehind needs.
_SUFFIX_WINDOW = 8
_CHUNK = re.compile(r"\S+")
_SPACE = re.compile(r"\s+")


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
            extra = _SPACE.match(text, end)
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
        # Work on [start, end) indices rather than slicing, and look for a suffix only in the
        # last few characters, so a long run of punctuation costs linear time, not quadratic.
        prefixes: List[str] = []
        suffixes: List[str] = []
        start, end = 0, len(chunk)
        while start < end:
            if _keep_whole(chunk, start, end):
                break
            if end - start > 1 and _PREFIX.match(chunk[start]):
                prefixes.append(chunk[start])
                start += 1
                continue
            window = max(start, end - _SUFFIX_WINDOW)
            match = _SUFFIX.search(chunk[window:end])
            if match and window + match.start() > start:
                suffixes.append(match.group())
                end = window + match.start()
                continue
            break
        return prefixes + ([chunk[start:end]] if start < end else []) + suffixes[::-1]


def _keep_whole(chunk: str, start: int, end: int) -> bool:
    """Whether chunk[start:end] is one token however it ends (URL, abbreviation, number…)."""
    maybe = (
        end - start <= 5
        or chunk.startswith(_URL_START, start)
        or (_ABBR_OR_NUMBER_START.match(chunk, start) and _ABBR_OR_NUMBER_END.match(chunk, end - 1))
    )
    return bool(maybe and _KEEP_WHOLE.fullmatch(chunk, start, end)) or _is_email(chunk, start, end)


def _is_email(chunk: str, start: int, end: int) -> bool:
    """Whether chunk[start:end] matches `\\S+@\\S+\\.\\w+`, without the regex's backtracking.

    The `\\w+` tail can hold no '.', so the dot is the last one; an '@' must then sit at least
    one character after `start` and two before that dot.
    """
    dot = chunk.rfind(".", start, end)
    if dot < 0 or chunk.find("@", start + 1, dot - 1) < 0:
        return False
    tail = _WORD_TAIL.match(chunk, dot + 1, end)
    return tail is not None and tail.end() == end
