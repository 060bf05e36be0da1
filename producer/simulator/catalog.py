"""Sports, their rules of play, leagues and team names the simulator draws games from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Period:
    """One period of play and the break that follows it, in game minutes."""

    minutes: float
    break_after: float = 0.0
    # Football adds stoppage time; other sports stop the clock instead.
    max_stoppage: float = 0.0


@dataclass(frozen=True, slots=True)
class Sport:
    """How a sport is played and priced."""

    name: str
    periods: tuple[Period, ...]
    # Expected goals of both teams together over regulation time.
    goals_per_game: float
    # True: match_winner is home/draw/away; False: home/away (a tie goes to overtime).
    draws: bool
    overtime_minutes: float = 0.0
    overtime_break: float = 0.0
    # Probability that a game is called off before it starts.
    cancel_rate: float = 0.02

    @property
    def regulation_minutes(self) -> float:
        """Minutes of play in regulation time, without stoppage or overtime."""
        return sum(p.minutes for p in self.periods)


@dataclass(frozen=True, slots=True)
class League:
    """A competition of one sport and the teams that play in it."""

    name: str
    sport: Sport
    teams: tuple[str, ...]


FOOTBALL = Sport(
    name="football",
    periods=(Period(45, break_after=15, max_stoppage=5), Period(45, max_stoppage=6)),
    goals_per_game=2.7,
    draws=True,
)
ICE_HOCKEY = Sport(
    name="ice_hockey",
    periods=(Period(20, break_after=17), Period(20, break_after=17), Period(20)),
    goals_per_game=6.0,
    draws=False,
    overtime_minutes=5,
    overtime_break=2,
)
FIELD_HOCKEY = Sport(
    name="field_hockey",
    periods=(
        Period(15, break_after=2),
        Period(15, break_after=10),
        Period(15, break_after=2),
        Period(15),
    ),
    goals_per_game=5.0,
    draws=True,
)
SPORTS: tuple[Sport, ...] = (FOOTBALL, ICE_HOCKEY, FIELD_HOCKEY)
# How often a new game is of each sport.
SPORT_WEIGHTS: dict[str, float] = {"football": 0.55, "ice_hockey": 0.3, "field_hockey": 0.15}

LEAGUES: tuple[League, ...] = (
    League(
        "Premier League",
        FOOTBALL,
        (
            "Manchester United",
            "Manchester City",
            "Liverpool",
            "Arsenal",
            "Chelsea",
            "Tottenham Hotspur",
            "Newcastle United",
            "Aston Villa",
            "West Ham United",
            "Everton",
            "Brighton & Hove Albion",
            "Wolverhampton Wanderers",
        ),
    ),
    League(
        "La Liga",
        FOOTBALL,
        (
            "Real Madrid",
            "FC Barcelona",
            "Atlético Madrid",
            "Sevilla",
            "Real Sociedad",
            "Villarreal",
            "Real Betis",
            "Athletic Club",
            "Valencia",
            "Celta Vigo",
        ),
    ),
    League(
        "Bundesliga",
        FOOTBALL,
        (
            "Bayern München",
            "Borussia Dortmund",
            "RB Leipzig",
            "Bayer Leverkusen",
            "Eintracht Frankfurt",
            "VfB Stuttgart",
            "Borussia Mönchengladbach",
            "Werder Bremen",
            "SC Freiburg",
            "VfL Wolfsburg",
        ),
    ),
    League(
        "Serie A",
        FOOTBALL,
        (
            "Inter",
            "AC Milan",
            "Juventus",
            "Napoli",
            "AS Roma",
            "Lazio",
            "Atalanta",
            "Fiorentina",
            "Bologna",
            "Torino",
        ),
    ),
    League(
        "NHL",
        ICE_HOCKEY,
        (
            "Toronto Maple Leafs",
            "Montreal Canadiens",
            "Boston Bruins",
            "New York Rangers",
            "Chicago Blackhawks",
            "Detroit Red Wings",
            "Edmonton Oilers",
            "Vegas Golden Knights",
            "Tampa Bay Lightning",
            "Colorado Avalanche",
        ),
    ),
    League(
        "SHL",
        ICE_HOCKEY,
        (
            "Frölunda HC",
            "Färjestad BK",
            "Skellefteå AIK",
            "Luleå HF",
            "Djurgårdens IF",
            "Rögle BK",
            "Växjö Lakers",
            "Brynäs IF",
        ),
    ),
    League(
        "Hoofdklasse",
        FIELD_HOCKEY,
        (
            "HC Bloemendaal",
            "Amsterdamsche H&BC",
            "SV Kampong",
            "HGC",
            "Oranje-Rood",
            "HC Den Bosch",
            "HC Rotterdam",
            "Pinoké",
        ),
    ),
    League(
        "Feldhockey-Bundesliga",
        FIELD_HOCKEY,
        (
            "Rot-Weiss Köln",
            "Uhlenhorst Mülheim",
            "Harvestehuder THC",
            "Mannheimer HC",
            "Club an der Alster",
            "Berliner HC",
            "Crefelder HTC",
            "Hamburger Polo Club",
        ),
    ),
)
