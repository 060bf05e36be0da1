-- Raw events (hypertables, deduplicated by event id), current state of games and markets,
-- the sink's rollups (maintained by the sink: no continuous aggregates in the Apache edition)
-- and the sink's Kafka offsets, written in the same transaction as the rows they cover.

-- Raw odds: one row per selection of each odds event.
CREATE TABLE odds_ticks (
    ts            timestamptz      NOT NULL,  -- event time
    event_id      text             NOT NULL,
    selection_id  text             NOT NULL,
    game_id       text             NOT NULL,
    market_id     text             NOT NULL,
    seq           bigint           NOT NULL,  -- the game's seq of the event
    market_status text             NOT NULL,
    price         double precision NOT NULL,
    UNIQUE (event_id, selection_id, ts)
);
SELECT create_hypertable('odds_ticks', by_range('ts', INTERVAL '1 hour'));
CREATE INDEX odds_ticks_market_ts ON odds_ticks (market_id, ts DESC);

CREATE TABLE game_events (
    ts         timestamptz NOT NULL,
    event_id   text        NOT NULL,
    game_id    text        NOT NULL,
    seq        bigint      NOT NULL,
    kind       text        NOT NULL,
    status     text        NOT NULL,
    score_home integer     NOT NULL,
    score_away integer     NOT NULL,
    period     integer,
    clock      integer,
    payload    jsonb       NOT NULL,  -- the whole event as received
    UNIQUE (event_id, ts)
);
SELECT create_hypertable('game_events', by_range('ts', INTERVAL '1 day'));
CREATE INDEX game_events_game_ts ON game_events (game_id, ts);

CREATE TABLE bets (
    ts           timestamptz      NOT NULL,
    event_id     text             NOT NULL,
    bet_id       text             NOT NULL,
    game_id      text             NOT NULL,
    account_id   text             NOT NULL,
    market_id    text             NOT NULL,
    selection_id text             NOT NULL,
    stake        bigint           NOT NULL,  -- minor units
    price        double precision NOT NULL,
    UNIQUE (event_id, ts)
);
SELECT create_hypertable('bets', by_range('ts', INTERVAL '1 day'));
CREATE INDEX bets_market_ts ON bets (market_id, ts);

-- Latest state of every game and market: rows change only for a newer seq of their game.
CREATE TABLE games (
    game_id    text        PRIMARY KEY,
    league     text        NOT NULL,
    sport      text        NOT NULL,
    home       text        NOT NULL,
    away       text        NOT NULL,
    start_time timestamptz NOT NULL,
    status     text        NOT NULL,
    score_home integer     NOT NULL,
    score_away integer     NOT NULL,
    period     integer,
    clock      integer,
    results    jsonb,
    last_seq   bigint      NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX games_status ON games (status, start_time);
CREATE INDEX games_league ON games (league, start_time);
CREATE INDEX games_sport ON games (sport, start_time);

CREATE TABLE markets (
    market_id  text             PRIMARY KEY,
    game_id    text             NOT NULL,
    kind       text             NOT NULL,
    line       double precision,
    status     text             NOT NULL,
    prices     jsonb            NOT NULL,  -- {selection_id: price}
    last_seq   bigint           NOT NULL,
    updated_at timestamptz      NOT NULL
);
CREATE INDEX markets_game ON markets (game_id);

-- OHLC of each selection's price per bucket; open and close follow event time (ts, seq),
-- not arrival, so a late tick can still become an older bucket's open or close.
CREATE TABLE candles (
    width        interval         NOT NULL,  -- 1 minute or 5 minutes
    market_id    text             NOT NULL,
    selection_id text             NOT NULL,
    bucket       timestamptz      NOT NULL,
    open         double precision NOT NULL,
    high         double precision NOT NULL,
    low          double precision NOT NULL,
    close        double precision NOT NULL,
    open_ts      timestamptz      NOT NULL,
    open_seq     bigint           NOT NULL,
    close_ts     timestamptz      NOT NULL,
    close_seq    bigint           NOT NULL,
    ticks        integer          NOT NULL,
    PRIMARY KEY (market_id, width, bucket, selection_id)
);

CREATE TABLE bet_volume (
    width        interval    NOT NULL,
    market_id    text        NOT NULL,
    selection_id text        NOT NULL,
    bucket       timestamptz NOT NULL,
    bets         integer     NOT NULL,
    stake        bigint      NOT NULL,
    -- sum(stake * price): the payout if this selection wins, for exposure
    payout       double precision NOT NULL,
    PRIMARY KEY (market_id, width, bucket, selection_id)
);

-- Where each consumer group resumes: committed with the data, so nothing is lost or doubled.
CREATE TABLE consumer_offsets (
    consumer_group text   NOT NULL,
    topic          text   NOT NULL,
    partition      integer NOT NULL,
    next_offset    bigint NOT NULL,
    PRIMARY KEY (consumer_group, topic, partition)
);
