"""A rule-based tokenizer for raw text, in spaCy's manner: whitespace first, then exceptions,
prefixes, suffixes and infixes, with rules kept as data (archcli/tokens/lang_en.py).

Each whitespace-delimited chunk is looked up in the exception table; otherwise opening
characters come off its front and closing ones (clitics, punctuation runs, units after numbers)
off its end until what is left is an exception, a URL, an e-mail address, an abbreviation or a
number, or nothing more comes off; what is left is split at its infixes (hyphens between words,
slashes, commas, brackets). Offsets are exact, so `doc.text == text`. Every step moves an index
and looks at a bounded window, so a chunk costs time linear in its length, and results for short
chunks are cached, as words repeat.
"""
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .doc import Doc
from .lang_en import english_rules
from .vocab import Vocab

_CHUNK = re.compile(r"\S+")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SPACE = re.compile(r"\s+")
_URL_START = re.compile(r"(?i)(?:https?://|ftp://|www\.)")
_URL_TRAILING = ".,;:!?)]}\"'>”’"
_INITIALS = re.compile(r"[A-Z]\.|[A-Za-z](?:\.[A-Za-z])+\.?")
# Digit groups joined by hyphens that are one token: phone numbers, dates, ids.
_NUMBER_GROUPS = re.compile(r"\d{1,4}(?:-\d{1,4}){2,}|\d{3}-\d{4}")
_NUMBER = re.compile(r"\d+(?:[.,:/]\d+)*")
_HASHTAG_OR_MENTION = re.compile(r"[#@][A-Za-z_]\w*")
_WORD_TAIL = re.compile(r"\w+")
_END_PUNCT = ".!?"
_RUN_CHARS = "<>*=~-_#$"
# Characters a run may mix and stay one token ("==----", "---=").
_MIXED_RUN = frozenset("-=~_*")
_CACHE_MAX_LEN = 40
_CACHE_SIZE = 200_000


class Tokenizer:
    """Callable turning a string into a Doc, by the rules given (default: English)."""

    def __init__(self, vocab: Vocab, rules: Optional[Dict[str, Any]] = None) -> None:
        self.vocab = vocab
        self.rules = rules if rules is not None else english_rules()
        self._compile()

    def _compile(self) -> None:
        rules = self.rules
        self._exceptions: Dict[str, List[str]] = {k: list(v) for k, v in rules["exceptions"].items()}
        for form, pieces in self._exceptions.items():
            if "".join(pieces) != form:
                raise ValueError(f"tokenizer exception {form!r}: its pieces {pieces!r} do not spell it")
        self._longest_exception = max((len(k) for k in self._exceptions), default=0)
        self._abbreviations = frozenset(rules["abbreviations"])
        self._bound_prefixes = frozenset(p.lower() for p in rules["bound_prefixes"])
        self._units = frozenset(u.lower() for u in rules["units"])
        # Emoticons as suffixes only where they start with punctuation ("great:)", not "B)").
        self._emoticon_suffixes = sorted((e for e in rules["emoticons"] if not e[0].isalnum()), key=len, reverse=True)
        self._prefix_chars = frozenset(rules["prefix_chars"])
        self._suffix_chars = frozenset(rules["suffix_chars"])
        self._infix_chars = frozenset(rules["infix_chars"])
        self._clitics = sorted(rules["clitics"], key=len, reverse=True)
        self._split_final_period = bool(rules.get("split_final_abbreviation_period", False))
        self._cache: Dict[Tuple[str, bool], List[str]] = {}

    # --- serialisation: the rules are the tokenizer ---------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        return dict(self.rules)

    @classmethod
    def from_dict(cls, vocab: Vocab, rules: Dict[str, Any]) -> "Tokenizer":
        return cls(vocab, rules)

    # --- tokenising ------------------------------------------------------------------------------
    def __call__(self, text: str) -> Doc:
        bad = _SURROGATE.search(text)
        if bad:  # JSON's "\ud800" escapes decode to these; they cannot be hashed or written as UTF-8
            raise ValueError(f"the text holds a lone surrogate (U+{ord(bad.group()):04X}) at character "
                             f"{bad.start() + 1}: not valid Unicode text")
        words, spaces = self.split(text)
        return Doc(self.vocab, words, spaces)

    def split(self, text: str) -> Tuple[List[str], List[bool]]:
        words: List[str] = []
        spaces: List[bool] = []
        last_end = len(text.rstrip())
        for match in _CHUNK.finditer(text):
            pieces = self.split_chunk(match.group(), final=match.end() == last_end)
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

    def split_chunk(self, chunk: str, *, final: bool = False) -> List[str]:
        """The tokens of one whitespace-free chunk; `final`: it ends the text (a sentence's last
        abbreviation gives up its period, as UD English writes "etc ." there)."""
        key = (chunk, final)
        cached = self._cache.get(key) if len(chunk) <= _CACHE_MAX_LEN else None
        if cached is not None:
            return list(cached)
        pieces = self._split(chunk, final)
        if len(chunk) <= _CACHE_MAX_LEN:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = pieces
        return list(pieces)

    def _split(self, chunk: str, final: bool) -> List[str]:
        prefixes: List[str] = []
        suffixes: List[str] = []
        start, end = 0, len(chunk)
        core: Optional[List[str]] = None
        while start < end:
            n = end - start
            if n <= self._longest_exception:
                exception = self._exceptions.get(chunk[start:end])
                if exception is not None:
                    core = exception
                    break
            if _URL_START.match(chunk, start):
                end = self._strip_url_tail(chunk, start, end, suffixes)
                core = [chunk[start:end]]
                break
            if self._is_whole(chunk, start, end):
                if final and end == len(chunk) and self._split_final_period and self._gives_up_period(chunk, start, end):
                    suffixes.append(".")
                    end -= 1
                    continue
                core = [chunk[start:end]]
                break
            if n > 2 and chunk.startswith("..", start):  # "...Now"
                taken = self._run(chunk, start, end)
                if taken < n:
                    prefixes.append(chunk[start:start + taken])
                    start += taken
                    continue
            if n > 1 and chunk[start] in self._prefix_chars:
                taken = self._prefix_len(chunk, start, end)
                if taken < n:
                    prefixes.append(chunk[start:start + taken])
                    start += taken
                    continue
                break
            taken = self._suffix_len(chunk, start, end)
            if 0 < taken < n:
                suffixes.append(chunk[end - taken:end])
                end -= taken
                continue
            break
        if core is None:
            core = self._infixes(chunk, start, end) if start < end else []
        return prefixes + list(core) + suffixes[::-1]

    # --- whole tokens -------------------------------------------------------------------------------
    def _is_whole(self, chunk: str, start: int, end: int) -> bool:
        """An abbreviation, a number, a hashtag/mention or an e-mail address: no more splitting."""
        if end - start <= 12:
            piece = chunk[start:end]
            if piece in self._abbreviations or _INITIALS.fullmatch(piece):
                return True
        if chunk[start].isdigit():
            if _NUMBER_GROUPS.fullmatch(chunk, start, end) or _NUMBER.fullmatch(chunk, start, end):
                return True
        if chunk[start] in "#@" and _HASHTAG_OR_MENTION.fullmatch(chunk, start, end):
            return True
        return _is_email(chunk, start, end)

    def _gives_up_period(self, chunk: str, start: int, end: int) -> bool:
        """A text-final abbreviation such as "etc." or "Inc." (not "U.S."): its period ends the sentence."""
        piece = chunk[start:end]
        return piece.endswith(".") and "." not in piece[:-1] and (piece in self._abbreviations or len(piece) == 2)

    @staticmethod
    def _strip_url_tail(chunk: str, start: int, end: int, suffixes: List[str]) -> int:
        """Trailing punctuation after a URL ("(see http://x.org/a).") comes off, one character
        each (a run of periods as one)."""
        unclosed = chunk.count("(", start, end) - chunk.count(")", start, end)
        while end - start > 1 and chunk[end - 1] in _URL_TRAILING:
            if chunk[end - 1] == ")" and unclosed >= 0:  # "http://x.org/a_(b)" keeps its bracket
                break
            if chunk[end - 1] == ")":
                unclosed += 1
            if chunk[end - 1] == ".":
                run = end
                while run > start + 1 and chunk[run - 1] == ".":
                    run -= 1
                suffixes.append(chunk[run:end])
                end = run
            else:
                suffixes.append(chunk[end - 1])
                end -= 1
        return end

    # --- prefixes and suffixes ------------------------------------------------------------------------
    @staticmethod
    def _run(chunk: str, start: int, end: int) -> int:
        """Length of the run of chunk[start]'s character from `start` (of any mix of "-=~_*"
        when it is one of those)."""
        first = chunk[start]
        i = start + 1
        if first in _MIXED_RUN:
            while i < end and chunk[i] in _MIXED_RUN:
                i += 1
        else:
            while i < end and chunk[i] == first:
                i += 1
        return i - start

    def _prefix_len(self, chunk: str, start: int, end: int) -> int:
        char = chunk[start]
        if char in _RUN_CHARS or char == "`":
            return self._run(chunk, start, end)
        return 1

    def _suffix_len(self, chunk: str, start: int, end: int) -> int:
        piece_len = end - start
        for emoticon in self._emoticon_suffixes:
            if len(emoticon) < piece_len and chunk.startswith(emoticon, end - len(emoticon)):
                return len(emoticon)
        last = chunk[end - 1]
        if piece_len > 2 and chunk[end - 2:end] in ("''", "’’", "‘‘"):
            return 2
        for clitic in self._clitics:
            k = len(clitic)
            if k < piece_len and chunk[end - k:end].lower() == clitic and chunk[end - k - 1].isalnum():
                return k
        if last in _END_PUNCT:  # "!!", "?!", "...." stay one token
            i = end - 1
            while i > start and chunk[i - 1] in _END_PUNCT:
                i -= 1
            if end - i == 1 and last == "." and self._ends_with_abbreviation(chunk, start, end):
                return 0  # "pigs,cows,etc.": the infixes come off first, the abbreviation keeps its period
            return end - i
        if last in _RUN_CHARS:  # ">>", "--", "***", "==--"
            i = end - 1
            while i > start and (chunk[i - 1] == last or (last in _MIXED_RUN and chunk[i - 1] in _MIXED_RUN)):
                i -= 1
            return end - i
        if last.isalpha() or last == ".":
            unit = self._unit_len(chunk, start, end)
            if unit:
                return unit
        if last in self._suffix_chars:
            return 1
        return 0

    def _ends_with_abbreviation(self, chunk: str, start: int, end: int) -> bool:
        word = end - 1
        while word > start and end - word <= 12 and (chunk[word - 1].isalpha() or chunk[word - 1] == "."):
            word -= 1
        if word == start or not chunk[word - 1] in ",/;(":
            return False
        piece = chunk[word:end]
        return piece in self._abbreviations or bool(_INITIALS.fullmatch(piece))

    def _unit_len(self, chunk: str, start: int, end: int) -> int:
        """The length of a unit ("mm", "PM", "k") that follows a digit at the end, else 0."""
        i = end
        while i > start and end - i <= 5 and (chunk[i - 1].isalpha() or chunk[i - 1] == "."):
            i -= 1
        if i > start and i < end and chunk[i - 1].isdigit() and chunk[i:end].lower() in self._units:
            return end - i
        return 0

    # --- infixes -------------------------------------------------------------------------------------
    def _infixes(self, chunk: str, start: int, end: int) -> List[str]:
        """chunk[start:end] split at hyphens between words (not after a bound prefix, not inside
        phone numbers or dates), slashes between words, commas between words, runs of periods
        between words, brackets, quotes and semicolons; each piece then checked for exceptions
        and clitics."""
        pieces: List[str] = []
        seg = start
        i = start

        def cut(at: int, to: int) -> None:
            nonlocal seg
            if at > seg:
                pieces.append(chunk[seg:at])
            pieces.append(chunk[at:to])
            seg = to

        while i < end:
            char = chunk[i]
            if char in self._infix_chars:
                j = i + 1
                if char in "!?":
                    while j < end and chunk[j] in "!?":
                        j += 1
                cut(i, j)
                i = j
                continue
            inside = seg < i and i + 1 < end
            if char == "-" and inside and chunk[i - 1].isalnum():
                j = i + self._run(chunk, i, end)
                if j < end and chunk[j].isalnum():
                    bound = j == i + 1 and seg == start and chunk[seg:i].lower() in self._bound_prefixes
                    if not bound:
                        cut(i, j)
                i = j
                continue
            if char == "/" and inside and chunk[i - 1].isalpha() and chunk[i + 1].isalpha():
                left = i
                while left > seg and chunk[left - 1].isalpha():
                    left -= 1
                right = i + 1
                while right < end and chunk[right].isalpha():
                    right += 1
                if not (i - left == 1 and right - i - 1 == 1):  # "b/c", "w/o" stay whole
                    cut(i, i + 1)
            elif char == "," and inside and not (chunk[i - 1].isdigit() and chunk[i + 1].isdigit()):
                cut(i, i + 1)
            elif char == "." and inside and chunk[i + 1] == "." and chunk[i - 1].isalnum():
                j = i + self._run(chunk, i, end)
                if j < end and chunk[j].isalnum():
                    cut(i, j)
                i = j
                continue
            i += 1
        if seg < end:
            pieces.append(chunk[seg:end])
        if len(pieces) == 1:
            return pieces
        out: List[str] = []
        for piece in pieces:  # "(don't" inside "see(don't)": its clitic and exceptions still apply
            out.extend(self._split(piece, False) if len(piece) > 1 else [piece])
        return out


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


def rules_from_dict(data: Dict[str, Any], where: str = "tokenizer") -> Dict[str, Any]:
    """Checked tokenizer rules (as `to_dict` writes them); missing keys from the English defaults."""
    rules = english_rules()
    unknown = [key for key in data if key not in rules]
    if unknown:
        raise ValueError(f"{where}: unknown tokenizer rule key '{unknown[0]}' (known: {', '.join(sorted(rules))})")
    for key, value in data.items():
        default = rules[key]
        if isinstance(default, dict):
            ok = isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, list) and
                                                  all(isinstance(p, str) for p in v) for k, v in value.items())
        elif isinstance(default, list):
            ok = isinstance(value, list) and all(isinstance(v, str) and v for v in value)
        else:
            ok = type(value) is type(default)
        if not ok:
            raise ValueError(f"{where}: tokenizer rule '{key}' should be {type(default).__name__} like the default")
    rules.update(data)
    return rules


__all__: Sequence[str] = ["Tokenizer", "rules_from_dict"]
