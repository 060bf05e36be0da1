"""broadcaster/static/inplay.js in Node (its built-in WebSocket) against a real gateway."""

from __future__ import annotations

import asyncio
import shutil

import httpx
import orjson
import pytest

from broadcaster import state
from broadcaster.channels import channels_for
from inplay_events import to_dict
from tests.broadcaster.helpers import ROOT, by_channel, expected_states, produce, run_id, simulate

NODE = shutil.which("node")

SCRIPT = r"""
const Inplay = require(process.argv[2]);
const [url, channel, total] = [process.argv[3], process.argv[4], Number(process.argv[5])];
const seen = { subscribed: [], events: 0 };
const client = new Inplay.Client(url, { minBackoffMs: 100, maxBackoffMs: 400 });
const onMessage = client._onMessage.bind(client);
let dropped = false;
client._onMessage = (m) => {
  if (m.type === "subscribed") seen.subscribed.push(m.recovered);
  if (m.type === "event") seen.events += 1;
  onMessage(m);
  const sub = client.subs[channel];
  // Lose the connection once, mid-stream: the client must reconnect and resume.
  if (!dropped && sub && sub.seq >= 40) { dropped = true; client.ws.close(); }
  if (sub && sub.seq === total && sub.state) {
    console.log(JSON.stringify({ state: sub.state, seq: sub.seq, seen }));
    client.close();
    process.exit(0);
  }
};
console.log("ready");
client.subscribe(channel);
setTimeout(() => { console.log(JSON.stringify({ timeout: true, seen,
  seq: (client.subs[channel] || {}).seq })); process.exit(1); }, 40000);
"""


@pytest.mark.skipif(NODE is None, reason="node is not installed")
async def test_js_client_builds_state_and_resumes_after_a_drop(stack, gateway, tmp_path):
    script = tmp_path / "run.js"
    script.write_text(SCRIPT)
    rid = run_id("js")
    events = simulate(400, rid, games=1)
    ch = f"game:{events[0].game_id}"
    total = len(by_channel(events)[ch])
    proc = await asyncio.create_subprocess_exec(
        NODE,
        "--experimental-websocket",
        "--no-warnings",
        str(script),
        str(ROOT / "broadcaster" / "static" / "inplay.js"),
        gateway.url(),
        ch,
        str(total),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert (await asyncio.wait_for(proc.stdout.readline(), 10)).strip() == b"ready"
    await asyncio.sleep(0.5)
    await produce(stack.kafka_bootstrap, events, rate=300)
    out, err = await asyncio.wait_for(proc.communicate(), 45)
    assert proc.returncode == 0, (out, err)
    result = orjson.loads(out.splitlines()[-1])
    assert result["seq"] == total
    assert result["state"] == expected_states(events)[ch][1]
    # First subscription (snapshot), then a resume after the drop that recovered from history.
    assert result["seen"]["subscribed"][0] is False
    assert True in result["seen"]["subscribed"][1:]


@pytest.mark.skipif(NODE is None, reason="node is not installed")
async def test_js_apply_event_is_the_state_model(tmp_path):
    """applyEvent in inplay.js builds what state.apply builds, games ending included."""
    events = simulate(1500, run_id("jsm"), games=2, events_per_sec=20, speedup=3000)
    dicts = [to_dict(e) for e in events]
    assert any(state.ended(e) for e in dicts)  # games settle within the run
    channels = sorted({ch for e in events for ch in channels_for(e)})
    data = tmp_path / "events.json"
    data.write_bytes(orjson.dumps({"events": dicts, "channels": channels}))
    script = tmp_path / "apply.js"
    script.write_text(APPLY_SCRIPT)
    proc = await asyncio.create_subprocess_exec(
        NODE,
        str(script),
        str(ROOT / "broadcaster" / "static" / "inplay.js"),
        str(data),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err
    js = orjson.loads(out)
    assert js == {ch: st for ch, (_, st) in expected_states(events).items()}


APPLY_SCRIPT = r"""
const Inplay = require(process.argv[2]);
const { events, channels } = JSON.parse(require("fs").readFileSync(process.argv[3], "utf8"));
const route = (e, ch) => ch === "games" ? e.type === "game"
  : ch.startsWith("league:") ? e.type === "game" && ch === "league:" + e.league
  : ch.startsWith("game:") ? (e.type === "game" || e.type === "odds") && ch === "game:" + e.game_id
  : e.type === "bet" && ch === "user:" + e.account_id;
const out = {};
for (const ch of channels) {
  const st = Inplay.emptyState(ch);
  for (const e of events) if (route(e, ch)) Inplay.applyEvent(ch, st, e, 50);
  out[ch] = st;
}
console.log(JSON.stringify(out));
"""


async def test_the_gateway_serves_the_client_it_speaks_with(gateway):
    """A page can load the client from where its socket is: GET /inplay.js on the gateway."""
    url = gateway.url().replace("ws://", "http://").rsplit("/", 1)[0] + "/inplay.js"
    source = (ROOT / "broadcaster" / "static" / "inplay.js").read_bytes()
    async with httpx.AsyncClient() as http:
        got = await http.get(url)
        assert got.status_code == 200
        assert got.headers["content-type"].startswith("text/javascript")
        assert got.content == source
        again = await http.get(url, headers={"If-None-Match": got.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        other = await http.get(url.replace("/inplay.js", "/nothing.js"))
        assert other.status_code == 404 and "/inplay.js" in other.text


async def test_plain_http_answers_close_so_keep_alive_clients_never_reuse(gateway):
    """Every plain-HTTP answer says ``Connection: close``, as the gateway then closes the socket.

    Without it a keep-alive client sends its next request down the closing socket and, now
    and then, gets a reset (httpx.ReadError) instead of an answer.
    """
    base = gateway.url().replace("ws://", "http://").rsplit("/", 1)[0]
    connects = 0

    async def trace(name: str, info: dict) -> None:
        nonlocal connects
        connects += name == "connection.connect_tcp.started"

    async with httpx.AsyncClient(base_url=base) as http:
        etag = (await http.get("/inplay.js")).headers["etag"]
        asks = [("/inplay.js", {}), ("/inplay.js", {"If-None-Match": etag}), ("/nope", {})]
        connects = 0
        answers = [
            await http.get(path, headers=headers, extensions={"trace": trace})
            for path, headers in asks * 50
        ]
    assert [a.status_code for a in answers] == [200, 304, 404] * 50
    assert {a.headers.get("connection") for a in answers} == {"close"}
    assert connects == len(answers)  # a fresh connection each time: none reused
