"""Type-ahead matching and ranking: pure, no I/O."""

from __future__ import annotations

from rest_api import typeahead

NAMES = ["Manchester United", "Manchester City", "Mansfield Town", "Arsenal", "Chelsea"]


def test_abbreviation_prefix_and_typo() -> None:
    assert [n for n, _ in typeahead.rank(["man", "utd"], NAMES, 5)] == ["Manchester United"]
    assert [n for n, _ in typeahead.rank(["manch"], NAMES, 5)] == [
        "Manchester City",
        "Manchester United",
    ]
    assert [n for n, _ in typeahead.rank(["arsnal"], NAMES, 5)] == ["Arsenal"]
    assert [n for n, _ in typeahead.rank(["chelsae"], NAMES, 5)] == ["Chelsea"]
    assert typeahead.rank(["liverpool"], NAMES, 5) == []


def test_exact_ranks_above_prefix_and_typo() -> None:
    exact = typeahead.score(["arsenal"], ["arsenal"])
    prefix = typeahead.score(["arsen"], ["arsenal"])
    typo = typeahead.score(["arsneal"], ["arsenal"])
    assert exact > prefix > typo > 0


def test_edit_distance() -> None:
    assert typeahead.edit_distance("arsenal", "arsenal", 2) == 0
    assert typeahead.edit_distance("arsneal", "arsenal", 2) == 1  # swap
    assert typeahead.edit_distance("abc", "xyzabc", 1) == 2  # capped


def test_candidate_patterns_escape_like() -> None:
    likes, typos = typeahead.candidate_patterns(["50%_", "utd"])
    assert "50\\%\\_%" in likes and "u%t%d%" in likes
    assert typos == ["50%_"]
