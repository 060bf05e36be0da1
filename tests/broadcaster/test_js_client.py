"""broadcaster/static/inplay.js in Node (its built-in WebSocket) against a real gateway."""

from __future__ import annotations

import asyncio
import shutil

import orjson
import pytest

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
        NODE, "--experimental-websocket", "--no-warnings", str(script),
        str(ROOT / "broadcaster" / "static" / "inplay.js"), gateway.url(), ch, str(total),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
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
