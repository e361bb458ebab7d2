"""What a search query is made of: its words, checked for what they cost before anything runs.

A word is a run of non-space characters: `10:30`, `A7-99`, `l'été`, `北京天气` and `👍` are one word
each. Only letters, marks, digits and symbols (emoji) can match; punctuation separates the parts of
a word, and a word of punctuation alone is left out.
"""

import unicodedata

from .errors import BadRequest

MAX_QUERY_CHARS = 256
# Each word costs up to three clauses and a trigram phrase as long as the word: these two caps
# bound the work of one search (docs/performance.md, "Search cost bounds").
MAX_WORDS = 8
MAX_WORD_CHARS = 48


def words(q: str) -> list[str]:
    """The words of `q` that can match anything; 400 when there are none or they cost too much."""
    if not q.strip():
        raise BadRequest("q is required: the text to search for")
    if len(q) > MAX_QUERY_CHARS:
        raise BadRequest(f"q is longer than {MAX_QUERY_CHARS} characters")
    found = [word for word in q.split() if any(_searchable(c) for c in word)]
    if not found:
        raise BadRequest("q has nothing to search for: it needs a letter, a digit or an emoji")
    if len(found) > MAX_WORDS:
        raise BadRequest(f"q has more than {MAX_WORDS} words")
    if any(len(word) > MAX_WORD_CHARS for word in found):
        raise BadRequest(f"a word of q is longer than {MAX_WORD_CHARS} characters: put spaces in it")
    return found


def parts(word: str) -> list[str]:
    """The runs of letters, marks and digits in a word (`A7-99` → `A7`, `99`)."""
    out, run = [], []
    for c in word:
        if unicodedata.category(c)[0] in "LMN":
            run.append(c)
        elif run:
            out.append("".join(run))
            run = []
    if run:
        out.append("".join(run))
    return out


def is_cjk(text: str) -> bool:
    """True if any character is Han, kana or Hangul: the scripts indexed as pairs of characters."""
    return any(_cjk(c) for c in text)


def _cjk(c: str) -> bool:
    name = unicodedata.name(c, "")
    return name.startswith(("CJK ", "HIRAGANA", "KATAKANA", "HANGUL"))


def _searchable(c: str) -> bool:
    category = unicodedata.category(c)
    return category[0] in "LMN" or category == "So"
