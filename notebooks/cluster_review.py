# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Reviewing one case
#
# For fraud analysts: one case of a day's `LAKE/cases/dt=D/` opened and drawn.
# Set `FRAUD_LAKE` (default: the demo's lake), and optionally `FRAUD_DATE`
# (default: the latest day with cases) and `FRAUD_CASE` (default: the day's
# riskiest case). It shows the case's facts and history, its members (masked
# numbers, scores, reasons), who is central, the money paths, any verdict
# given, and draws the members and their ties (`FRAUD_FIGURE` names the PNG
# file; default `case.png` beside the working directory). Runs as a plain
# script too: `python notebooks/cluster_review.py`. It reads the lake and
# changes nothing; `fraud review` records a verdict.

# %%
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import networkx as nx
import pandas as pd
import pyarrow.parquet as pq

from cases.report import KIND_NAMES, ROLE_COLOURS, TIE_COLOURS, graph_data, statuses
from fraudgraph.lake import Lake, partition_days, partition_path

LAKE = Lake(os.environ.get("FRAUD_LAKE", "demo/lake"))
days = partition_days(LAKE.cases)
if not days:
    raise SystemExit(f"no cases in {LAKE.cases}: run fraud score first")
DAY = pd.Timestamp(os.environ["FRAUD_DATE"]).date() if os.environ.get("FRAUD_DATE") else days[-1]
cases = pq.read_table(partition_path(LAKE.cases, DAY)).to_pylist()
chosen = os.environ.get("FRAUD_CASE") or min(cases, key=lambda c: c["case_rank"])["case_id"]
case = next((c for c in cases if c["case_id"] == chosen), None)
if case is None:
    raise SystemExit(f"no case {chosen} on {DAY}")
pd.set_option("display.width", 160)

# %% [markdown]
# ## The case

# %%
verdict = statuses(LAKE).get(case["case_id"])
print(f"== case {case['case_id']} of {DAY}: rank {case['case_rank']} of {len(cases)}, {case['typology']}")
print(f"risk {case['risk']:.3f} (highest member {case['max_risk']:.3f}), loss {case['loss']:,.2f} from {case['victims']} victims")
print(f"history: first seen {case['first_seen']}, today {case['change']}"
      + (f", merged from {', '.join(case['merged_from'])}" if case["merged_from"] else "")
      + (f", split from {case['split_from']}" if case["split_from"] else ""))
print("verdict: " + (f"{verdict['verdict']} by {verdict['by']} at {verdict['at']}: {verdict['note']}" if verdict else "none yet"))

# %% [markdown]
# ## Members, central first

# %%
members = pd.DataFrame(case["members"])
members["kind"] = members["kind"].map(KIND_NAMES)
shown = members.sort_values(["centrality", "risk_score"], ascending=False)[
    ["kind", "masked", "role", "risk_score", "centrality", "ties", "reasons"]
]
print(shown.to_string(index=False))

# %% [markdown]
# ## Money paths inside the case

# %%
names = {m["entity_token"]: m["masked"] or "outside party" for m in case["members"] if m["entity_token"]}
transfers = pd.DataFrame(case["transfers"])
if transfers.empty:
    print("no transfer inside this case")
else:
    transfers["src"] = transfers["src"].map(names)
    transfers["dst"] = transfers["dst"].map(names)
    print(transfers.to_string(index=False))

# %% [markdown]
# ## The graph

# %%
data = graph_data(case)
graph = nx.Graph()
graph.add_nodes_from(n["id"] for n in data["nodes"])
graph.add_edges_from((e["src"], e["dst"]) for e in data["edges"])
position = {n["id"]: (n["x"], -n["y"]) for n in data["nodes"]}
fig, ax = plt.subplots(figsize=(8, 6))
for tie, colour in TIE_COLOURS.items():
    edges = [(e["src"], e["dst"]) for e in data["edges"] if e["tie"] == tie]
    nx.draw_networkx_edges(graph, position, edgelist=edges, edge_color=colour, ax=ax, label=tie.replace("_", " ") if edges else None)
nx.draw_networkx_nodes(graph, position, node_color=[ROLE_COLOURS.get(n["role"], "#999") for n in data["nodes"]],
                       node_size=[160 if n["role"] == "flagged" else 70 for n in data["nodes"]], edgecolors="#222", ax=ax)
ax.set_title(f"case {case['case_id']}: {len(data['nodes'])} members, {len(data['edges'])} ties")
ax.legend(loc="lower left", fontsize=8)
ax.axis("off")
figure = Path(os.environ.get("FRAUD_FIGURE", "case.png"))
fig.savefig(figure, dpi=100)
print(f"figure: {figure} ({len(data['nodes'])} members, {len(data['edges'])} ties)")
