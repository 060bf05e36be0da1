-- REST API: type-ahead search over teams, leagues and games, and stable paging of games.
-- Additive only: one new table kept by a trigger on new games, new indexes, no changed columns.

-- One row per distinct searchable name. Searching the games table directly would scan every
-- game a popular team ever played on each keystroke; this stays as small as the set of names.
CREATE TABLE search_terms (
    kind  text NOT NULL,  -- team | league
    name  text NOT NULL,
    sport text NOT NULL,  -- of the first game that brought the name in
    PRIMARY KEY (kind, name)
);
-- Word-prefix (LIKE 'x%' / '% x%') and typo (word similarity, <%) lookups on lower(name).
CREATE INDEX search_terms_trgm ON search_terms USING gin (lower(name) gin_trgm_ops);

-- Once per statement, over the rows really inserted (an upsert that updates adds none), so the
-- sink's per-event game updates cost nothing. Names go in sorted order: two sink transactions
-- bringing the same new names lock them in the same order and cannot deadlock.
CREATE FUNCTION search_terms_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_terms (kind, name, sport)
    SELECT kind, name, min(sport) FROM (
        SELECT 'team' AS kind, home AS name, sport FROM new_games
        UNION ALL SELECT 'team', away, sport FROM new_games
        UNION ALL SELECT 'league', league, sport FROM new_games
    ) names
    GROUP BY kind, name ORDER BY kind, name
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER games_search_terms AFTER INSERT ON games
    REFERENCING NEW TABLE AS new_games
    FOR EACH STATEMENT EXECUTE FUNCTION search_terms_add();

INSERT INTO search_terms (kind, name, sport)
    SELECT 'team', home, min(sport) FROM games GROUP BY home
    UNION ALL SELECT 'team', away, min(sport) FROM games GROUP BY away
    UNION ALL SELECT 'league', league, min(sport) FROM games GROUP BY league
ON CONFLICT DO NOTHING;

-- The games of a matched team or league, and /v1/games paged in (start_time, game_id) order.
CREATE INDEX games_home ON games (home, start_time);
CREATE INDEX games_away ON games (away, start_time);
CREATE INDEX games_start ON games (start_time, game_id);
