"""Full-text search every backend shares: one tokenizer, one query syntax, one match rule.

The engines index and match (SQLite FTS5 with BM25, PostgreSQL `tsvector` with a
GIN index, a scan in `MemoryStore`), but the words they see are cut here, once,
in Python, so the three backends agree on what a term is:

- a term is a run of letters and digits, with inner `-`, `.` or `_` kept:
  `3`, `Q3`, `ZX-4471`, `3.5` and `v2_final` are one term each, and
  `budget.` at a sentence's end is `budget`;
- case is folded (`str.casefold`); accents are kept (`café` is not `cafe`).

The query syntax is `websearch_to_tsquery`'s: plain words are looked for
(a hit holding more of them scores higher), `"quoted words"` are a phrase every
hit must hold, and `-word` leaves out every text holding `word`.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

__all__ = [
    "COMMON_MIN",
    "COMMON_SHARE",
    "NUMBER_WORDS",
    "STOPWORDS",
    "TextQuery",
    "coverage",
    "document_terms",
    "holds",
    "rarer",
    "search_docs",
    "term_weights",
    "terms",
    "tsvector",
]

_TERM = re.compile(r"\w+(?:[-._]\w+)*")

#: Words too common to tell texts apart: not looked for unless a query has nothing else.
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "so",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "you",
        "your",
    ]
)


#: Number words are their digits: speech recognition writes "region four" as often as
#: "region 4", and people type `4`.
NUMBER_WORDS = {
    word: str(n)
    for n, word in enumerate(
        [
            *("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
            *("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen"),
            *("seventeen", "eighteen", "nineteen", "twenty"),
        ]
    )
}


def terms(text: str) -> list[str]:
    """The terms of `text`, in order (with repeats), as every backend indexes them.

    A number word from zero to twenty is its digits (`NUMBER_WORDS`).

    Examples:
        >>> terms("Order ZX-4471 shipped in Q3, at 3.5 units.")
        ['order', 'zx-4471', 'shipped', 'in', 'q3', 'at', '3.5', 'units']
        >>> terms("Episode Four")
        ['episode', '4']
    """
    found = _TERM.findall(unicodedata.normalize("NFKC", text).casefold())
    return [NUMBER_WORDS.get(term, term) for term in found]


def document_terms(text: str) -> str:
    """`text`'s terms joined by spaces: what the SQLite FTS5 table holds."""
    return " ".join(terms(text))


def tsvector(text_terms: Sequence[str]) -> str:
    """Terms as a PostgreSQL `tsvector` literal with positions (for phrases).

    A term holds only letters, digits, `-`, `.` and `_`, so it needs no escaping.
    PostgreSQL keeps positions up to 16,383; later words share that last position.
    """
    return " ".join(f"'{term}':{min(i + 1, 16383)}" for i, term in enumerate(text_terms))


def search_docs(kind: str, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The full-text documents of segment or caption rows, for the engines' indexes.

    A caption's text is its description, then the text read on screen, as its hit shows it.
    """
    docs = []
    for row in rows:
        text = row["text"] if kind == "segment" else f"{row['caption']} {row['ocr_text']}"
        cut = terms(text)
        docs.append(
            {
                "owner_id": row["id"],
                "video_id": row["video_id"],
                "kind": kind,
                "terms": " ".join(cut),  # SQLite's FTS5 document
                "tsv": tsvector(cut),  # PostgreSQL's tsvector
            }
        )
    return docs


@dataclass(frozen=True)
class TextQuery:
    """A parsed query: the words looked for, the phrases required, the words excluded.

    Examples:
        >>> q = TextQuery.parse('budget "slide 7" -draft ZX-4471')
        >>> (q.words, q.phrases, q.excluded)
        (('budget', 'zx-4471'), (('slide', '7'),), ('draft',))
    """

    words: tuple[str, ...]
    phrases: tuple[tuple[str, ...], ...]
    excluded: tuple[str, ...]

    @classmethod
    def parse(cls, query: str) -> TextQuery:
        """Read `query` as `websearch_to_tsquery` would; stop words are dropped from plain words."""
        words: list[str] = []
        phrases: list[tuple[str, ...]] = []
        excluded: list[str] = []
        for quoted, plain in re.findall(r'"([^"]*)"?|([^\s"]+)', query):
            if quoted:
                phrase = tuple(terms(quoted))
                if len(phrase) > 1:
                    phrases.append(phrase)
                else:
                    words.extend(phrase)
            elif plain.startswith("-") and len(plain) > 1:
                excluded.extend(terms(plain[1:]))
            elif plain.casefold() != "or":  # websearch_to_tsquery's OR: every word is optional
                words.extend(terms(plain))
        content = [w for w in words if w not in STOPWORDS]
        if content or phrases:
            words = content
        return cls(tuple(dict.fromkeys(words)), tuple(dict.fromkeys(phrases)), tuple(excluded))

    @property
    def wanted(self) -> tuple[str, ...]:
        """Every term a hit is scored by: the plain words, then the phrases' content words."""
        phrase_words = [w for p in self.phrases for w in p if w not in STOPWORDS]
        return tuple(dict.fromkeys([*self.words, *phrase_words]))

    def __bool__(self) -> bool:
        return bool(self.words or self.phrases)

    def fts5(self) -> str | None:
        """The FTS5 `MATCH` expression: the phrases (all), else any word; minus the excluded."""
        if not self:
            return None
        if self.phrases:
            match = " AND ".join(_quoted(" ".join(p), '"') for p in self.phrases)
        else:
            match = " OR ".join(_quoted(w, '"') for w in self.words)
        if self.excluded:
            left_out = " OR ".join(_quoted(w, '"') for w in self.excluded)
            match = f"({match}) NOT ({left_out})"
        return match

    def tsquery(self) -> str | None:
        """The same rule as a PostgreSQL `tsquery` literal (`<->` joins a phrase's words)."""
        if not self:
            return None
        if self.phrases:
            match = " & ".join(
                "(" + " <-> ".join(_quoted(w, "'") for w in p) + ")" for p in self.phrases
            )
        else:
            match = " | ".join(_quoted(w, "'") for w in self.words)
        if self.excluded:
            left_out = " | ".join(_quoted(w, "'") for w in self.excluded)
            match = f"({match}) & !({left_out})"
        return match


def _quoted(term: str, quote: str) -> str:
    # A term holds only letters, digits, "-", "." and "_": nothing to escape.
    return f"{quote}{term}{quote}"


def holds(text_terms: Sequence[str], query: TextQuery) -> bool:
    """Whether a text (its `terms`) passes the query's rules: every phrase, no excluded word."""
    present = set(text_terms)
    if any(w in present for w in query.excluded):
        return False
    return all(_has_phrase(text_terms, p) for p in query.phrases)


def _has_phrase(text_terms: Sequence[str], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(
        tuple(text_terms[i : i + n]) == phrase
        for i, term in enumerate(text_terms)
        if term == phrase[0]
    )


def coverage(
    text_terms: Sequence[str], query: TextQuery, weights: Mapping[str, float] | None = None
) -> tuple[float, list[str]]:
    """The share of the query's wanted terms a text holds, and those terms.

    With `weights` (see `term_weights`), each term counts its weight (missing: 1).
    """
    wanted = query.wanted
    if not wanted:
        return 0.0, []
    present = set(text_terms)
    found = [w for w in wanted if w in present]
    if weights is None:
        return len(found) / len(wanted), found
    total = sum(weights.get(w, 1.0) for w in wanted)
    return sum(weights.get(w, 1.0) for w in found) / total, found


def term_weights(wanted: Iterable[str], texts: Sequence[set[str]]) -> dict[str, float]:
    """How much each wanted term tells `texts` apart: 1 when at most one holds it, less the more do.

    `1 / (1 + ln(n))` for a term `n` of the texts hold: held by 5, it counts 0.38;
    by 50, 0.20. Over a search's candidates, the term that separates them (`4`
    among five `region N` sentences, `Aisha` among sales forecasts) counts more
    than the words they all share.

    Examples:
        >>> w = term_weights(["budget", "4"], [{"budget", "3"}, {"budget", "4"}, {"budget"}])
        >>> round(w["budget"], 2), w["4"]
        (0.48, 1.0)
    """
    weights = {}
    for term in wanted:
        held = sum(1 for text in texts if term in text)
        weights[term] = 1.0 / (1.0 + math.log(max(held, 1)))
    return weights


#: A word more than this share of the documents hold is left out of the full-text
#: candidates (it still counts in every candidate's score): it ranks little, and would
#: make the engine rank most rows. A word at most `COMMON_MIN` documents hold stays.
COMMON_SHARE = 0.05
COMMON_MIN = 1000


def rarer(query: TextQuery, counts: Mapping[str | None, int], *, limit: float) -> TextQuery:
    """`query` with only the plain words at most `limit` documents hold (`counts`).

    When every word is more common, the rarest one stays. Phrases and exclusions stay.
    """
    rare = tuple(w for w in query.words if counts.get(w, 0) <= limit)
    if not rare:
        rare = (min(query.words, key=lambda w: counts.get(w, 0)),)
    return replace(query, words=rare)
