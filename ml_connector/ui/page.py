"""The page's HTML (a Jinja2 template with autoescaping: every value the ledger holds is text, never
markup) and its one small script."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from jinja2 import Environment

# Actions with a colour of their own; any other shows as a plain badge.
BADGES = {
    "create": "good",
    "update": "info",
    "merge": "info",
    "adopted": "info",
    "success": "good",
    "unchanged": "muted",
    "skip": "muted",
    "deferred": "warn",
    "incomplete": "warn",
    "budget_exhausted": "warn",
    "rejected": "bad",
    "conflict": "bad",
    "failed": "bad",
}

TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Workday → Pipedrive</title>
<script src="{{ urls.script }}" defer></script>
<style>
  body { font: 13.5px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1a202c;
         margin: 0; padding: 14px 20px 28px; background: #fff; }
  h1 { font-size: 21px; margin: 0; }
  h2 { font-size: 15.5px; margin: 20px 0 6px; }
  .sub { color: #4a5568; margin: 2px 0 12px; }
  form { display: flex; gap: 8px; align-items: center; }
  label { font-weight: 600; }
  input[type=search] { width: 330px; padding: 5px 10px; border: 1px solid #a0aec0; border-radius: 6px;
                       font: inherit; }
  button { padding: 5px 14px; border: 0; border-radius: 6px; background: #017cee; color: #fff;
           font: inherit; cursor: pointer; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; vertical-align: top; padding: 4px 7px; border-bottom: 1px solid #e2e8f0; }
  th { background: #f7fafc; font-weight: 600; white-space: nowrap; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
  .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
  .nowrap { white-space: nowrap; }
  .small { font-size: 12px; }
  td.records { min-width: 15em; }
  td.changes, td.reason { min-width: 12em; }
  .badge { display: inline-block; padding: 0 7px; border-radius: 9px; font-size: 12px; font-weight: 600;
           background: #edf2f7; color: #2d3748; }
  .badge.good { background: #c6f6d5; color: #22543d; }
  .badge.info { background: #bee3f8; color: #2a4365; }
  .badge.muted { background: #edf2f7; color: #4a5568; }
  .badge.warn { background: #feebc8; color: #7b341e; }
  .badge.bad { background: #fed7d7; color: #822727; }
  .notice { padding: 8px 12px; background: #fffaf0; border: 1px solid #fbd38d; border-radius: 6px; }
  .muted { color: #718096; }
  a { color: #0059b3; }
  img.chart { max-width: 100%; height: auto; border: 1px solid #e2e8f0; border-radius: 6px; }
</style>
</head>
<body>
<h1>Workday → Pipedrive</h1>
<p class="sub">The sync's audit trail, from its ledger: a record's history, the recent runs and the
Pipedrive tokens they spent. As of {{ now }} UTC.</p>

<form method="get" action="{{ urls.page }}" role="search">
  <label for="q">Find a record</label>
  <input type="search" id="q" name="q" value="{{ query }}" maxlength="100" autocomplete="off"
         placeholder="Workday ID (CUS-000042) or Pipedrive ID">
  <button type="submit">Search</button>
</form>

{% if query %}
<section id="history">
<h2>History of {{ query }} <span class="muted small">(newest first)</span></h2>
{% if error %}
<p class="notice">{{ error }}</p>
{% else %}
<table>
<thead><tr><th>When (UTC)</th><th>Run</th><th>Record</th><th>Pipedrive ID</th><th>Action</th>
<th>Changes</th><th>Reason</th></tr></thead>
<tbody>
{% for row in history %}
<tr class="history-row">
  <td class="nowrap">{{ row.ts }}</td>
  <td><a class="mono nowrap" data-top target="_top" href="{{ run_url(row.dag_id, row.run_id) }}">{{ row.run_id }}</a>
    <div class="small muted">{{ row.entity }}{% if row.try_number %} · <a data-top target="_top"
      href="{{ task_url(row.dag_id, row.run_id, 'load', row.try_number) }}">load log, try {{ row.try_number }}</a>{% endif %}</div></td>
  <td><span class="mono">{{ row.key }}</span><div class="small muted">{{ row.kind }}</div></td>
  <td class="mono">{{ row.pipedrive_id if row.pipedrive_id is not none else "" }}</td>
  <td class="action"><span class="badge {{ badge(row.action) }}">{{ row.action }}</span>
    <div class="small muted nowrap">{% if row.http_status is not none %}HTTP {{ row.http_status }}{% endif %}
      {%- if row.tokens %} · {{ row.tokens }} tokens{% endif %}{% if row.dry_run %} · dry run{% endif %}</div></td>
  <td class="changes">{{ row.changes }}</td>
  <td class="reason">{{ row.reason }}</td>
</tr>
{% endfor %}
</tbody>
</table>
{% endif %}
</section>
{% endif %}

{% for entity, rows in runs.items() %}
<section id="runs-{{ entity }}">
<h2>Recent runs: {{ entity }} <span class="muted mono">{{ dag_ids[entity] }}</span></h2>
{% if rows %}
<table>
<thead><tr><th>Run</th><th>Status</th><th>Window</th><th>Records</th><th>Requests</th><th>Tokens</th>
<th>Left today</th><th>Rate limits</th></tr></thead>
<tbody>
{% for run in rows %}
<tr class="run-row">
  <td><a class="mono nowrap" data-top target="_top" href="{{ run_url(run.dag_id, run.run_id) }}">{{ run.run_id }}</a>
    <div class="small muted">started {{ run.started }} · logs:
    {% for task in run.tasks %}<a data-top target="_top" href="{{ task_url(run.dag_id, run.run_id, task.task_id, task.try_number) }}">{{ task.task_id }}</a>
      {%- if task.action != "success" %} <span class="badge bad">{{ task.action }}</span>{% endif %}{% if not loop.last %} · {% endif %}{% endfor %}</div></td>
  <td><span class="badge {{ badge(run.status) }}">{{ run.status }}</span>{% if run.dry_run %} <span class="muted">(dry run)</span>{% endif %}
    {% if run.reason %}<div class="small muted">{{ run.reason }}</div>{% endif %}</td>
  <td class="nowrap">{{ run.mode }}{% if run.window %}<div class="small muted">{{ run.window }}</div>{% endif %}</td>
  <td class="small records">{% for kind, text in run.counts.items() if text %}<div>{{ kind }}: {{ text }}</div>{% endfor %}</td>
  <td class="num">{{ "{:,}".format(run.requests) if run.requests is not none else "" }}</td>
  <td class="num">{{ "{:,}".format(run.tokens) if run.tokens is not none else "" }}</td>
  <td class="num">{{ "{:,}".format(run.daily_tokens_left) if run.daily_tokens_left is not none else "" }}</td>
  <td>{% for action, n in run.incidents.items() %}<span class="badge warn">{{ action }}: {{ n }}</span> {% endfor %}</td>
</tr>
{% endfor %}
</tbody>
</table>
{% else %}
<p class="muted">No runs in the ledger yet.</p>
{% endif %}
</section>
{% endfor %}

<section id="usage">
<h2>Pipedrive tokens, last {{ usage.days }} days</h2>
<p>{{ usage.summary }}</p>
<img class="chart" src="{{ urls.chart }}" alt="Pipedrive tokens per day and DAG against the daily budget">
</section>
</body>
</html>
"""

# Links to Airflow's own pages open in the whole window, not in the frame Airflow shows this page in.
# That frame may not navigate the window itself (its sandbox has no allow-top-navigation), so the link
# is handed to the Airflow UI's router through the window's history, as its own links are.
SCRIPT = """"use strict";
document.addEventListener("click", (event) => {
  const link = event.target instanceof Element ? event.target.closest("a[data-top]") : null;
  if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
    return;
  }
  let top;
  try {
    top = window.top;
    if (top === window || top.location.origin !== window.location.origin) return;
  } catch (error) {
    return;  // a parent of another origin: leave the link to the browser
  }
  event.preventDefault();
  const url = new URL(link.href, window.location.href);
  const state = { usr: null, key: Math.random().toString(36).slice(2, 10), idx: (top.history.state?.idx ?? 0) + 1 };
  top.history.pushState(state, "", url.pathname + url.search + url.hash);
  top.dispatchEvent(new PopStateEvent("popstate", { state }));
});
"""

_ENV = Environment(autoescape=True, keep_trailing_newline=True)
_PAGE = _ENV.from_string(TEMPLATE)


def badge(action: str) -> str:
    return BADGES.get(action, "")


def airflow_links(root: str) -> dict[str, Any]:
    """URL builders for the Airflow UI's run and task pages under ``root`` (its path prefix)."""

    def run_url(dag_id: str, run_id: str) -> str:
        return f"{root}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"

    def task_url(dag_id: str, run_id: str, task_id: str, try_number: int | None = None) -> str:
        url = f"{run_url(dag_id, run_id)}/tasks/{quote(task_id, safe='')}"
        return f"{url}?try_number={int(try_number)}" if try_number else url

    return {"run_url": run_url, "task_url": task_url}


def render(**values: Any) -> str:
    """The page; ``values`` are the template's (see :data:`TEMPLATE`)."""
    return _PAGE.render(badge=badge, **values)
