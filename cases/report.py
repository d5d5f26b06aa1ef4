"""The analysts' report: a static site under ``LAKE/reports/dt=D/cases/`` that works offline.

``index.html`` lists the day's cases, sortable by any column (risk, loss,
victims, ...) and filterable, each with its status from the verdicts log. One
page per case (``<case_id>.html``) holds an interactive graph of its members
and ties (drawn in SVG by the page's own script: click a member to see its
reasons and ties, drag to move, scroll to zoom), the members with masked
numbers, scores and reasons, the money paths with amounts and times, and the
case's history. Everything is inline: no CDN, no font or script from
elsewhere. Numbers show masked (``138****8000``); tokens appear only as the
handle ``fraud review --member`` takes. The layout is networkx's spring
layout, seeded, so a re-run draws the same picture.

The page reports its own state for the browser test: ``data-graph="drawn"``
on ``<body>`` once the graph is drawn, and ``data-error`` with the message of
any script error.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from cases.verdicts import log_path
from fraudgraph.lake import Lake, partition_path

KIND_NAMES = {0: "number", 1: "account", 2: "handset", 3: "ID number"}
TIE_COLOURS = {
    "number_device": "#7f7f7f", "number_id": "#8c564b", "account_id": "#8c564b", "account_number": "#9467bd",
    "money": "#d62728", "bridge": "#ff7f0e", "co_target": "#1f77b4",
}
ROLE_COLOURS = {"flagged": "#c00000", "linked": "#f2b134", "connector": "#5b7fa6"}

_STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:1.5rem;color:#1b1b1b;background:#fafafa}
h1{font-size:1.4rem;margin:0 0 .3rem} h2{font-size:1.1rem;margin:1.4rem 0 .4rem}
table{border-collapse:collapse;background:#fff;font-size:.86rem} th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#eef2f6;cursor:pointer;user-select:none} td.n{text-align:right;font-variant-numeric:tabular-nums}
.tag{display:inline-block;padding:0 .4rem;border-radius:.6rem;background:#e8e8e8;font-size:.78rem}
.open{background:#e8e8e8}.confirmed{background:#f6c6c6}.false_positive{background:#cfe8cf}.needs_info{background:#fbe5b0}
code{font-size:.78rem;color:#555} .muted{color:#666;font-size:.85rem}
#graph{background:#fff;border:1px solid #ddd;width:100%;height:520px;display:block} #panel{min-height:3rem}
.layout{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:1rem}
"""

_INDEX_SCRIPT = """
window.onerror=function(m){document.body.dataset.error=String(m);};
(function(){
  const table=document.getElementById('cases');const body=table.tBodies[0];
  table.querySelectorAll('th').forEach(function(th,i){th.addEventListener('click',function(){
    const rows=Array.from(body.rows);const asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';
    rows.sort(function(a,b){const x=a.cells[i].dataset.v||a.cells[i].textContent,y=b.cells[i].dataset.v||b.cells[i].textContent;
      const nx=parseFloat(x),ny=parseFloat(y);const c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);return asc?c:-c;});
    rows.forEach(function(r){body.appendChild(r);});});});
  document.getElementById('filter').addEventListener('input',function(e){const q=e.target.value.toLowerCase();
    Array.from(body.rows).forEach(function(r){r.style.display=r.textContent.toLowerCase().includes(q)?'':'none';});});
  document.body.dataset.ready='1';
})();
"""

_CASE_SCRIPT = """
window.onerror=function(m){document.body.dataset.error=String(m);};
(function(){
  const data=JSON.parse(document.getElementById('case-data').textContent);
  const svg=document.getElementById('graph');const ns='http://www.w3.org/2000/svg';
  const W=svg.clientWidth||900,H=svg.clientHeight||520,pad=40;
  const byId={};data.nodes.forEach(function(n){byId[n.id]=n;});
  function px(n){return pad+n.x*(W-2*pad);} function py(n){return pad+n.y*(H-2*pad);}
  const view=document.createElementNS(ns,'g');svg.appendChild(view);
  const lines=data.edges.map(function(e){const l=document.createElementNS(ns,'line');
    l.setAttribute('stroke',e.colour);l.setAttribute('stroke-width',e.tie==='money'?2.5:1.5);l.setAttribute('opacity',0.8);
    const t=document.createElementNS(ns,'title');t.textContent=e.label;l.appendChild(t);view.appendChild(l);return [l,e];});
  const circles=data.nodes.map(function(n){const c=document.createElementNS(ns,'circle');
    c.setAttribute('r',n.role==='flagged'?9:6);c.setAttribute('fill',n.colour);c.setAttribute('stroke','#222');
    c.setAttribute('class','node');c.dataset.id=n.id;const t=document.createElementNS(ns,'title');t.textContent=n.label;c.appendChild(t);
    view.appendChild(c);return [c,n];});
  function draw(){lines.forEach(function(p){const a=byId[p[1].src],b=byId[p[1].dst];
      p[0].setAttribute('x1',px(a));p[0].setAttribute('y1',py(a));p[0].setAttribute('x2',px(b));p[0].setAttribute('y2',py(b));});
    circles.forEach(function(p){p[0].setAttribute('cx',px(p[1]));p[0].setAttribute('cy',py(p[1]));});}
  const panel=document.getElementById('panel');
  function show(n){circles.forEach(function(p){p[0].setAttribute('stroke-width',p[1].id===n.id?3:1);});
    const ties=data.edges.filter(function(e){return e.src===n.id||e.dst===n.id;}).map(function(e){return e.label;});
    panel.innerHTML='';const h=document.createElement('strong');h.textContent=n.label;panel.appendChild(h);
    (n.reasons||[]).concat(ties).forEach(function(s){const p=document.createElement('div');p.textContent=s;panel.appendChild(p);});}
  let dragging=null,scale=1,tx=0,ty=0;
  circles.forEach(function(p){p[0].addEventListener('mousedown',function(ev){dragging=p[1];show(p[1]);ev.preventDefault();});
    p[0].addEventListener('click',function(){show(p[1]);});});
  svg.addEventListener('mousemove',function(ev){if(!dragging)return;const r=svg.getBoundingClientRect();
    dragging.x=((ev.clientX-r.left-tx)/scale-pad)/(W-2*pad);dragging.y=((ev.clientY-r.top-ty)/scale-pad)/(H-2*pad);draw();});
  window.addEventListener('mouseup',function(){dragging=null;});
  svg.addEventListener('wheel',function(ev){ev.preventDefault();scale=Math.max(0.3,Math.min(5,scale*(ev.deltaY<0?1.1:0.9)));
    view.setAttribute('transform','translate('+tx+','+ty+') scale('+scale+')');},{passive:false});
  draw();
  document.getElementById('status').textContent='graph: '+data.nodes.length+' members, '+data.edges.length+' ties';
  document.body.dataset.graph='drawn';
})();
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _money(value: Any) -> str:
    return "" if value is None else f"{float(value):,.2f}"


def _score(value: Any) -> str:
    return "" if value is None else f"{float(value):.3f}"


def _when(value: Any) -> str:
    return "" if value is None else str(value)[:16].replace("T", " ")


def statuses(lake: Lake) -> dict[str, dict[str, Any]]:
    """Each reviewed case's latest verdict (the log is append-only: the last line on a case wins)."""
    path = log_path(lake)
    latest: dict[str, dict[str, Any]] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                latest[record["case_id"]] = record
    return latest


def _name(member: dict[str, Any]) -> str:
    kind = KIND_NAMES.get(member["kind"], "party")
    if member.get("masked"):
        return f"{kind} {member['masked']}"
    if member.get("entity_token"):
        return f"{kind} (outside party) {member['entity_token'][:8]}"
    return f"{kind} #{str(member['id'])[-6:]}"


def graph_data(case: dict[str, Any]) -> dict[str, Any]:
    """Nodes with a seeded spring layout scaled to 0..1, and the ties between them, for the page's script."""
    import networkx as nx

    members = case["members"]
    ids = {str(m["id"]) for m in members}
    edges = [e for e in case["edges"] if e["src"] in ids and e["dst"] in ids]
    graph = nx.Graph()
    graph.add_nodes_from(ids)
    graph.add_edges_from((e["src"], e["dst"]) for e in edges)
    position = nx.spring_layout(graph, seed=0) if len(ids) > 1 else {next(iter(ids)): (0.0, 0.0)} if ids else {}
    xs = [p[0] for p in position.values()] or [0.0]
    ys = [p[1] for p in position.values()] or [0.0]

    def scaled(value: float, low: float, high: float) -> float:
        return 0.5 if high == low else (value - low) / (high - low)

    names = {str(m["id"]): _name(m) for m in members}
    nodes = [
        {
            "id": str(m["id"]), "role": m["role"], "colour": ROLE_COLOURS.get(m["role"], "#999"),
            "label": f"{names[str(m['id'])]} ({m['role']}"
            + (f", score {m['risk_score']:.3f}" if m.get("risk_score") is not None else "") + ")",
            "reasons": list(m.get("reasons") or []),
            "x": scaled(position[str(m["id"])][0], min(xs), max(xs)),
            "y": scaled(position[str(m["id"])][1], min(ys), max(ys)),
        }
        for m in members
    ]
    links = [
        {"src": e["src"], "dst": e["dst"], "tie": e["tie"], "colour": TIE_COLOURS.get(e["tie"], "#999"),
         "label": f"{e['tie'].replace('_', ' ')}: {names[e['src']]} - {names[e['dst']]}"}
        for e in edges
    ]
    return {"nodes": nodes, "edges": links}


def _page(title: str, body: str, script: str, data: dict[str, Any] | None = None) -> str:
    embedded = ""
    if data is not None:
        payload = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
        embedded = f'<script type="application/json" id="case-data">{payload}</script>'
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{body}{embedded}<script>{script}</script></body></html>\n"
    )


def _status(status: dict[str, Any] | None) -> str:
    verdict = status["verdict"] if status else "open"
    return f'<span class="tag {verdict}">{_e(verdict.replace("_", " "))}</span>'


def index_page(cases: list[dict[str, Any]], day: dt.date, reviewed: dict[str, dict[str, Any]]) -> str:
    header = ("rank", "case", "status", "typology", "change", "risk", "loss", "victims", "numbers", "accounts",
              "handsets", "first seen")
    rows = []
    for c in sorted(cases, key=lambda c: c["case_rank"]):
        cells = [
            f'<td class="n">{c["case_rank"]}</td>',
            f'<td><a href="{_e(c["case_id"])}.html">{_e(c["case_id"])}</a></td>',
            f"<td>{_status(reviewed.get(c['case_id']))}</td>",
            f"<td>{_e(c['typology'].replace('_', ' '))}</td>",
            f"<td>{_e(c['change'])}</td>",
            f'<td class="n" data-v="{c["risk"] or 0}">{(c["risk"] or 0):.3f}</td>',
            f'<td class="n" data-v="{c["loss"] or 0}">{_money(c["loss"])}</td>',
            f'<td class="n">{c["victims"]}</td>',
            f'<td class="n">{c["flagged_numbers"]}</td>',
            f'<td class="n">{c["flagged_accounts"]}</td>',
            f'<td class="n">{c["shared_handsets"]}</td>',
            f"<td>{_e(c['first_seen'])}</td>",
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    body = (
        f"<h1>Cases of {day.isoformat()}</h1>"
        f'<p class="muted">{len(cases)} cases, riskiest first. Click a column to sort; type to filter. '
        "Numbers are masked; give verdicts with <code>fraud review --case ID --verdict ... --note ...</code>.</p>"
        '<p><input id="filter" placeholder="filter: typology, status, case id" size="40"></p>'
        '<table id="cases"><thead><tr>' + "".join(f"<th>{h}</th>" for h in header) + "</tr></thead><tbody>"
        + "".join(rows) + "</tbody></table>"
    )
    return _page(f"Cases {day.isoformat()}", body, _INDEX_SCRIPT)


def case_page(case: dict[str, Any], day: dt.date, status: dict[str, Any] | None) -> str:
    members = case["members"]
    names = {m["entity_token"]: _name(m) for m in members if m.get("entity_token")}
    member_rows = "".join(
        "<tr>"
        f"<td>{_e(_name(m))}</td><td>{_e(m['role'])}</td>"
        f'<td class="n">{_score(m.get("risk_score"))}</td>'
        f'<td class="n">{_e(m.get("risk_rank"))}</td>'
        f"<td>{'<br>'.join(_e(r) for r in (m.get('reasons') or []))}</td>"
        f"<td><code>{_e(m.get('entity_token') or '')}</code></td>"
        "</tr>"
        for m in members
    )
    transfer_rows = "".join(
        f"<tr><td>{_e(names.get(t['src'], 'account outside the bank'))}</td><td>{_e(names.get(t['dst'], 'account outside the bank'))}</td>"
        f'<td class="n">{_money(t["amount"])}</td><td class="n">{t["transfers"]}</td>'
        f"<td>{_when(t['first_time'])}</td><td>{_when(t['last_time'])}</td></tr>"
        for t in case["transfers"]
    )
    history = [f"first seen {case['first_seen']}", f"today: {case['change']}"]
    if case.get("merged_from"):
        history.append("merged from " + ", ".join(case["merged_from"]))
    if case.get("split_from"):
        history.append(f"split from {case['split_from']}")
    if status:
        history.append(f"verdict {status['verdict']} by {status['by']} at {status['at']}: {status['note']}")
    legend = " ".join(
        f'<span class="tag" style="border-left:.8rem solid {c}">{_e(t.replace("_", " "))}</span>' for t, c in TIE_COLOURS.items()
    )
    facts = (
        f"typology <strong>{_e(case['typology'].replace('_', ' '))}</strong> · risk {case['risk'] or 0:.3f} · "
        f"loss {_money(case['loss'])} from {case['victims']} victims · {case['flagged_numbers']} flagged numbers, "
        f"{case['flagged_accounts']} flagged accounts, {case['shared_handsets']} shared handsets, "
        f"{case['shared_id_numbers']} shared ID numbers · money {_when(case['first_time'])} to {_when(case['last_time'])}"
    )
    body = (
        f'<p><a href="index.html">all cases</a></p><h1>Case {_e(case["case_id"])} {_status(status)}</h1>'
        f'<p>{facts}</p><p class="muted">{_e("; ".join(history))}</p>'
        '<div class="layout"><div><svg id="graph" role="img" aria-label="members and ties"></svg>'
        f'<p class="muted" id="status"></p><p>{legend}</p></div>'
        '<div><h2>Selected member</h2><div id="panel" class="muted">click a member of the graph</div></div></div>'
        "<h2>Members</h2><table><thead><tr><th>member</th><th>role</th><th>score</th><th>rank</th><th>reasons</th>"
        f"<th>token (for fraud review --member)</th></tr></thead><tbody>{member_rows}</tbody></table>"
        "<h2>Leak sources its numbers dial from</h2>"
        + (
            "<table><thead><tr><th>source</th><th>type</th><th>callees in it</th><th>share of callees</th>"
            "<th>lift over all subscribers</th></tr></thead><tbody>"
            + "".join(
                f"<tr><td>{_e(x.get('name') or x['source_id'])}</td><td>{_e((x.get('source_type') or '').replace('_', ' '))}</td>"
                f'<td class="n">{x["contacts"]}</td><td class="n">{x["share"]:.0%}</td><td class="n">{x["lift"]:.1f}</td></tr>'
                for x in case.get("leak_sources") or []
            )
            + "</tbody></table>"
            if case.get("leak_sources") else '<p class="muted">none of its callees is in a known leak source</p>'
        )
        + "<h2>Money paths</h2>"
        + (
            "<table><thead><tr><th>from</th><th>to</th><th>amount</th><th>transfers</th><th>first</th><th>last</th></tr></thead>"
            f"<tbody>{transfer_rows}</tbody></table>" if transfer_rows else '<p class="muted">no transfer inside this case</p>'
        )
    )
    return _page(f"Case {case['case_id']}", body, _CASE_SCRIPT, graph_data(case))


def write_report(lake: Lake, day: dt.date) -> Path:
    """Write the day's index and case pages from ``LAKE/cases/dt=D``; returns the index page."""
    cases = pq.read_table(partition_path(lake.cases, day)).to_pylist()  # the day's cases: bounded by the flagged parties
    reviewed = statuses(lake)
    out = partition_path(lake.reports, day) / "cases"
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.html"):
        stale.unlink()
    for case in cases:
        (out / f"{case['case_id']}.html").write_text(case_page(case, day, reviewed.get(case["case_id"])), encoding="utf-8")
    index = out / "index.html"
    index.write_text(index_page(cases, day, reviewed), encoding="utf-8")
    return index
