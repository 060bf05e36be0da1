/*
 * inplay.js: a minimal client of the inplay WebSocket protocol v1 (docs/protocol.md).
 * No build step: load it with <script src="http://<gateway>/inplay.js"></script> (every
 * gateway serves it; it defines window.Inplay) or require() it in Node.
 *
 *   const client = new Inplay.Client("ws://127.0.0.1:18765/ws", {
 *     token: "<JWT, only for user:<account> channels>",
 *     onState: (channel, state, msg) => render(channel, state),
 *     onStatus: (status) => showBanner(status),        // "live" | "stale" | "connecting"
 *     onError: (err) => console.warn(err.code, err.message),
 *   });
 *   client.subscribe("game:g000001");
 *
 * It keeps each channel's state (snapshot + deltas), checks every seq, and on a gap, a
 * heartbeat showing a lost message, or a reconnect (exponential backoff with jitter) it
 * subscribes again with `resume`, so the server replays what was missed or sends a fresh
 * snapshot.
 */
(function (root, factory) {
  if (typeof module === "object" && module.exports) {
    module.exports = factory();
  } else {
    root.Inplay = factory();
  }
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  var GAME_FIELDS = ["game_id", "league", "sport", "home", "away", "start_time", "status",
    "score", "period", "clock"];
  var BET_FIELDS = ["bet_id", "game_id", "market_id", "selection_id", "stake", "price", "ts"];
  // A game in one of these statuses leaves the games and league states (not its own channel).
  var ENDED_STATUSES = { settled: true, cancelled: true };

  function kindOf(channel) {
    if (channel === "games") return "games";
    var i = channel.indexOf(":");
    return i > 0 ? channel.slice(0, i) : "unknown";
  }

  function emptyState(channel) {
    var kind = kindOf(channel);
    if (kind === "game") return { game: null, markets: {} };
    if (kind === "user") return { bets: [] };
    return { games: {} };
  }

  function pick(obj, fields) {
    var out = {};
    for (var i = 0; i < fields.length; i++) {
      if (Object.prototype.hasOwnProperty.call(obj, fields[i])) out[fields[i]] = obj[fields[i]];
    }
    return out;
  }

  /** The channel state after one event (the same model as broadcaster/state.py). */
  function applyEvent(channel, state, ev, userBets) {
    var kind = kindOf(channel);
    if (kind === "game") {
      if (ev.type === "game") {
        state.game = Object.assign({}, state.game || {}, pick(ev, GAME_FIELDS));
      } else if (ev.type === "odds") {
        state.markets[ev.market_id] = {
          kind: ev.kind,
          line: ev.line === undefined ? null : ev.line,
          status: ev.status,
          prices: ev.prices,
        };
      }
    } else if (kind === "games" || kind === "league") {
      if (ev.type === "game" && ENDED_STATUSES[ev.status] === true) {
        delete state.games[ev.game_id]; // what a fresh snapshot shows: the game is gone
      } else if (ev.type === "game") {
        state.games[ev.game_id] = Object.assign({}, state.games[ev.game_id] || {},
          pick(ev, GAME_FIELDS));
      }
    } else if (kind === "user" && ev.type === "bet") {
      state.bets.push(pick(ev, BET_FIELDS));
      if (state.bets.length > userBets) state.bets.splice(0, state.bets.length - userBets);
    }
    return state;
  }

  function Client(url, options) {
    options = options || {};
    this.url = url;
    this.token = options.token || null;
    this.onState = options.onState || function () {};
    this.onStatus = options.onStatus || function () {};
    this.onError = options.onError || function () {};
    this.userBets = options.userBets || 50;
    this.minBackoffMs = options.minBackoffMs || 500;
    this.maxBackoffMs = options.maxBackoffMs || 15000;
    this.WebSocket = options.WebSocketImpl ||
      (typeof WebSocket !== "undefined" ? WebSocket : null);
    this.subs = {}; // channel -> {epoch, seq, state, conflateMs, ready}
    this.ws = null;
    this.heartbeatMs = 10000;
    this.status = "connecting";
    this._attempt = 0;
    this._closed = false;
    this._timers = [];
    this._lastRx = 0;
    if (options.autoConnect !== false) this.connect();
  }

  Client.prototype.connect = function () {
    var self = this;
    if (!this.WebSocket) throw new Error("no WebSocket implementation");
    var ws = new this.WebSocket(this.url);
    this.ws = ws;
    ws.onmessage = function (e) { self.receive(e.data); };
    ws.onclose = function () { self._onClose(ws); };
    ws.onerror = function () {};
  };

  /** Subscribe (or keep subscribed across reconnects); conflateMs per DESIGN "Feed safety". */
  Client.prototype.subscribe = function (channel, opts) {
    var conflateMs = (opts && opts.conflateMs) || 0;
    if (!this.subs[channel]) {
      this.subs[channel] = { epoch: null, seq: 0, state: null, conflateMs: conflateMs,
        ready: false };
    }
    this._sendSubscribe(channel);
  };

  Client.prototype.unsubscribe = function (channel) {
    delete this.subs[channel];
    this._send({ op: "unsubscribe", channels: [channel] });
  };

  /** The state a channel's snapshot and deltas built so far (null before the snapshot). */
  Client.prototype.state = function (channel) {
    var sub = this.subs[channel];
    return sub ? sub.state : null;
  };

  Client.prototype.close = function () {
    this._closed = true;
    this._clearTimers();
    if (this.ws) this.ws.close(1000);
  };

  Client.prototype._send = function (op) {
    if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify(op));
  };

  Client.prototype._sendSubscribe = function (channel) {
    var sub = this.subs[channel];
    var op = { op: "subscribe", channels: [channel] };
    if (sub.conflateMs) op.conflate_ms = sub.conflateMs;
    if (sub.epoch !== null && sub.state !== null) {
      op.resume = {};
      op.resume[channel] = { epoch: sub.epoch, seq: sub.seq };
    }
    sub.ready = false;
    this._send(op);
  };

  /** Resubscribe with resume: the server replays what was missed or sends a snapshot. */
  Client.prototype._resync = function (channel) {
    this._send({ op: "unsubscribe", channels: [channel] });
    this._sendSubscribe(channel);
  };

  /** Handle one text frame (a message object or an array of them). */
  Client.prototype.receive = function (text) {
    this._lastRx = Date.now();
    var obj = JSON.parse(text);
    var list = Array.isArray(obj) ? obj : [obj];
    for (var i = 0; i < list.length; i++) this._onMessage(list[i]);
  };

  Client.prototype._setStatus = function (status) {
    if (status !== this.status) {
      this.status = status;
      this.onStatus(status);
    }
  };

  Client.prototype._onMessage = function (m) {
    var sub = m.channel !== undefined ? this.subs[m.channel] : null;
    switch (m.type) {
      case "welcome":
        this._attempt = 0;
        this.heartbeatMs = m.heartbeat_ms;
        this._setStatus(m.status);
        this._startTimers();
        if (this.token) this._send({ op: "auth", token: this.token });
        for (var ch in this.subs) this._sendSubscribe(ch);
        break;
      case "subscribed":
        if (!sub) break;
        if (!m.recovered) sub.state = null; // a snapshot follows
        sub.epoch = m.epoch;
        sub.seq = m.seq;
        sub.ready = true;
        break;
      case "snapshot":
        if (!sub) break;
        sub.state = m.data;
        sub.seq = m.seq;
        this.onState(m.channel, sub.state, m);
        break;
      case "event":
        if (!sub || !sub.ready || sub.state === null) break;
        if (m.seq <= sub.seq) break; // already applied
        if (m.seq !== sub.seq + 1 && !m.conflated && !sub.conflateMs) {
          this._resync(m.channel); // a gap: never apply past a missing event
          break;
        }
        applyEvent(m.channel, sub.state, m.data, this.userBets);
        sub.seq = m.seq;
        this.onState(m.channel, sub.state, m);
        break;
      case "heartbeat":
        for (var name in m.positions) {
          var s = this.subs[name];
          // Everything sent before the heartbeat has arrived: a higher position means a
          // lost message.
          if (s && s.ready && s.state !== null && m.positions[name] > s.seq) this._resync(name);
        }
        break;
      case "status":
        this._setStatus(m.state);
        break;
      case "error":
        this.onError(m);
        break;
      default:
        break; // pong, and message types added later
    }
  };

  Client.prototype._startTimers = function () {
    var self = this;
    this._clearTimers();
    this._lastRx = Date.now();
    // Pings keep the server's dead-peer timer happy; silence from the server means a dead
    // connection even when TCP has not noticed yet.
    this._timers.push(setInterval(function () {
      self._send({ op: "ping" });
      if (Date.now() - self._lastRx > 2.5 * self.heartbeatMs && self.ws) self.ws.close(4000);
    }, this.heartbeatMs));
  };

  Client.prototype._clearTimers = function () {
    for (var i = 0; i < this._timers.length; i++) clearInterval(this._timers[i]);
    this._timers = [];
  };

  Client.prototype._onClose = function (ws) {
    if (ws !== this.ws) return;
    this._clearTimers();
    for (var ch in this.subs) this.subs[ch].ready = false;
    if (this._closed) return;
    this._setStatus("connecting");
    var base = Math.min(this.maxBackoffMs, this.minBackoffMs * Math.pow(2, this._attempt++));
    var delay = base / 2 + Math.random() * base / 2; // jitter spreads a reconnect storm
    var self = this;
    setTimeout(function () { if (!self._closed) self.connect(); }, delay);
  };

  return { Client: Client, applyEvent: applyEvent, emptyState: emptyState };
});
