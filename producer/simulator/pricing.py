"""The probability model behind the odds: Poisson goals on the time that is left, plus a margin."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

MIN_PRICE = 1.01
MAX_PRICE = 1000.0
# Bookmaker's overround: the implied probabilities of a market add up to this.
MARGIN_TWO_WAY = 1.05
MARGIN_THREE_WAY = 1.06


@dataclass(frozen=True, slots=True)
class Outlook:
    """Distributions of the final goal difference (home - away) and goal total."""

    diff: dict[int, float]
    total: dict[int, float]


def poisson(lam: float) -> list[float]:
    """P(k goals) for k = 0..n, cut where the tail is negligible and renormalised."""
    if lam <= 0.0:
        return [1.0]
    n = int(lam + 6.0 * math.sqrt(lam) + 4.0)
    pmf = [math.exp(-lam)]
    for k in range(1, n + 1):
        pmf.append(pmf[-1] * lam / k)
    mass = sum(pmf)
    return [p / mass for p in pmf]


def outlook(score_home: int, score_away: int, lam_home: float, lam_away: float) -> Outlook:
    """Final difference and total given the score now and the goals each side still expects."""
    ph, pa = poisson(lam_home), poisson(lam_away)
    base_diff, base_total = score_home - score_away, score_home + score_away
    diff: dict[int, float] = {}
    total: dict[int, float] = {}
    for i, p_i in enumerate(ph):
        for j, p_j in enumerate(pa):
            p = p_i * p_j
            d, t = base_diff + i - j, base_total + i + j
            diff[d] = diff.get(d, 0.0) + p
            total[t] = total.get(t, 0.0) + p
    return Outlook(diff, total)


def match_winner(o: Outlook, draws: bool) -> dict[str, float]:
    """Probabilities of home/draw/away; without draws a tie is split as overtime would."""
    home = sum(p for d, p in o.diff.items() if d > 0)
    away = sum(p for d, p in o.diff.items() if d < 0)
    tie = o.diff.get(0, 0.0)
    if draws:
        return {"home": home, "draw": tie, "away": away}
    return {"home": home + tie / 2, "away": away + tie / 2}


def handicap(o: Outlook, line: float) -> dict[str, float]:
    """Probability that home covers ``line`` (home goals + line > away goals), and the rest."""
    home = sum(p for d, p in o.diff.items() if d + line > 0)
    return {"home": home, "away": 1.0 - home}


def total(o: Outlook, line: float) -> dict[str, float]:
    """Probability of more goals than ``line`` in the game, and of fewer."""
    over = sum(p for t, p in o.total.items() if t > line)
    return {"over": over, "under": 1.0 - over}


def balanced_handicap_line(o: Outlook) -> float:
    """The half-goal handicap line closest to an even chance for home."""
    lines = [k + 0.5 for k in range(-6, 6)]
    return min(lines, key=lambda line: (abs(handicap(o, line)["home"] - 0.5), abs(line)))


def balanced_total_line(o: Outlook) -> float:
    """The half-goal total line closest to an even chance of over."""
    lines = [k + 0.5 for k in range(0, 15)]
    return min(lines, key=lambda line: (abs(total(o, line)["over"] - 0.5), line))


def to_prices(probs: Mapping[str, float], noise: Mapping[str, float]) -> dict[str, float]:
    """Decimal odds from probabilities, each nudged by exp(noise), with margin, 3 decimals."""
    weights = {sel: max(p, 0.0) * math.exp(noise.get(sel, 0.0)) for sel, p in probs.items()}
    mass = sum(weights.values()) or 1.0
    margin = MARGIN_THREE_WAY if len(probs) > 2 else MARGIN_TWO_WAY
    prices: dict[str, float] = {}
    for sel, w in weights.items():
        implied = w / mass * margin
        price = 1.0 / implied if implied > 0.0 else MAX_PRICE
        prices[sel] = round(min(max(price, MIN_PRICE), MAX_PRICE), 3)
    return prices
