"""A self-contained HTML page that renders /openapi.json (no CDN: inline CSS and JS only)."""

from __future__ import annotations

DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>inplay REST API</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#222}
h1{margin-bottom:0}.op{border:1px solid #ddd;border-radius:6px;margin:1rem 0;padding:.6rem 1rem}
.m{font-weight:700;color:#fff;background:#2a7;border-radius:4px;padding:1px 6px;margin-right:.5rem}
code,pre{font:12px ui-monospace,monospace}pre{background:#f6f6f6;padding:.5rem;overflow:auto}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #eee;text-align:left;
padding:3px 6px;vertical-align:top}.req{color:#c33}details{margin-top:.4rem}
</style></head><body>
<h1 id="title">inplay REST API</h1><p id="desc"></p><div id="ops">Loading /openapi.json…</div>
<h2>Schemas</h2><div id="schemas"></div>
<script>
const esc = s => String(s ?? "").replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c]));
fetch("openapi.json").then(r => r.json()).then(spec => {
  document.getElementById("title").textContent = spec.info.title + " " + spec.info.version;
  document.getElementById("desc").textContent = spec.info.description || "";
  let html = "";
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(item)) {
      html += `<div class="op"><span class="m">${method.toUpperCase()}</span><code>${esc(path)}</code>`;
      html += `<p>${esc(op.summary)}</p>${op.description ? `<p>${esc(op.description)}</p>` : ""}`;
      if ((op.parameters || []).length) {
        html += "<table><tr><th>parameter</th><th>in</th><th>schema</th><th>description</th></tr>";
        for (const p of op.parameters) {
          html += `<tr><td><code>${esc(p.name)}</code>${p.required ? ' <span class="req">*</span>' : ""}</td>` +
            `<td>${esc(p.in)}</td><td><code>${esc(JSON.stringify(p.schema))}</code></td><td>${esc(p.description)}</td></tr>`;
        }
        html += "</table>";
      }
      html += "<table><tr><th>status</th><th>response</th></tr>";
      for (const [code, r] of Object.entries(op.responses)) {
        const ref = r.content && Object.values(r.content)[0].schema.$ref;
        html += `<tr><td>${esc(code)}</td><td>${esc(r.description)}${ref ? ` <code>${esc(ref.split("/").pop())}</code>` : ""}</td></tr>`;
      }
      html += "</table></div>";
    }
  }
  document.getElementById("ops").innerHTML = html;
  document.getElementById("schemas").innerHTML = Object.entries(spec.components.schemas).map(
    ([name, s]) => `<details><summary><code>${esc(name)}</code></summary><pre>${esc(JSON.stringify(s, null, 2))}</pre></details>`
  ).join("");
}).catch(e => { document.getElementById("ops").textContent = "Could not load the spec: " + e; });
</script></body></html>
"""  # noqa: E501 (one page of inline JS and CSS)
