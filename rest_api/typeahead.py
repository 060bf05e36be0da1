"""Type-ahead matching and ranking: which names a typed query means, pure and I/O-free.

A query matches a name when every query word matches some word of the name, by (best first)
equality, prefix (typing in progress), abbreviation ("utd" for "united": same first letter,
letters in order) or a small typo (edit distance 1, or 2 for long words). The database only
proposes candidates (see ``queries.search``); this module decides and orders.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_WORD = re.compile(r"[^\W_]+")
MAX_WORDS = 6

EXACT, PREFIX, ABBREVIATION, TYPO = 1.0, 0.9, 0.7, 0.6


def words(text: str) -> list[str]:
    """Lower-case words of ``text`` (letters and digits; punctuation separates)."""
    return _WORD.findall(text.lower())


def query_words(query: str) -> list[str]:
    """The words of a query that matching uses (at most ``MAX_WORDS``)."""
    return words(query)[:MAX_WORDS]


def edit_distance(a: str, b: str, cap: int) -> int:
    """Optimal-string-alignment distance (a swap counts 1); returns ``cap + 1`` past ``cap``."""
    if abs(len(a) - len(b)) > cap:
        return cap + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = ca != cb
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > cap:
            return cap + 1
        prev2, prev = prev, cur
    return prev[-1]


def _is_abbreviation(token: str, word: str) -> bool:
    if len(token) < 2 or len(token) >= len(word) or token[0] != word[0]:
        return False
    rest = iter(word[1:])
    return all(ch in rest for ch in token[1:])


def word_score(token: str, word: str) -> float:
    """How well one typed word matches one word of a name; 0 when it does not."""
    if token == word:
        return EXACT
    if word.startswith(token):
        return PREFIX
    if _is_abbreviation(token, word):
        return ABBREVIATION
    if len(token) >= 4:
        cap = 1 if len(token) < 8 else 2
        # Against the whole word (a finished word with a typo) or a prefix of about the
        # token's length (a typo in a word still being typed).
        candidates = {word, *(word[:n] for n in range(len(token) - 1, len(token) + 2))}
        if any(edit_distance(token, c, cap) <= cap for c in candidates if len(c) >= 3):
            return TYPO
    return 0.0


def score(tokens: Sequence[str], name_words: Sequence[str]) -> float:
    """Mean best match of each token over the name's words; 0 unless every token matches."""
    if not tokens or not name_words:
        return 0.0
    total = 0.0
    for token in tokens:
        best = max(word_score(token, w) for w in name_words)
        if best == 0.0:
            return 0.0
        total += best
    # A name whose first word the query starts with ranks above one matched further in.
    bonus = 0.05 if word_score(tokens[0], name_words[0]) >= PREFIX else 0.0
    # Fewer unmatched words: "Arsenal" above "Arsenal Tula" for "arsenal".
    brevity = 0.01 * min(len(tokens) / len(name_words), 1.0)
    return round(total / len(tokens) + bonus + brevity, 4)


def rank(tokens: Sequence[str], names: Iterable[str], limit: int) -> list[tuple[str, float]]:
    """The names that match, best first (ties by name), at most ``limit``."""
    scored = [(name, s) for name in names if (s := score(tokens, words(name))) > 0]
    scored.sort(key=lambda item: (-item[1], item[0]))
    return scored[:limit]


def _escape_like(token: str) -> str:
    return token.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def candidate_patterns(tokens: Sequence[str]) -> tuple[list[str], list[str]]:
    """LIKE patterns (word prefixes, abbreviations) and typo words for the candidate query.

    Each pattern starts at a word start, so the trigram index can serve it; a candidate
    needs to satisfy only one, and ``score`` then checks every token.
    """
    likes: list[str] = []
    for token in tokens:
        escaped = _escape_like(token)
        likes += [f"{escaped}%", f"% {escaped}%"]
        if 2 <= len(token) <= 5 and token.isalpha():
            spread = "%".join(token)
            likes += [f"{spread}%", f"% {spread}%"]
    typos = [token for token in tokens if len(token) >= 4]
    return likes, typos
