"""The report's HTML: one file, its style inline, no script and nothing fetched, so it
opens offline and as a CI artifact. jinja2 escapes every value (autoescape); only the
figures, SVG that matplotlib wrote, are put in as they are (Markup).
"""

from __future__ import annotations

from typing import Any

TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>runner report: {{ header.run }}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1150px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { border-bottom: 1px solid #ccc; margin-top: 1.6em; } h3 { margin-top: 1.2em; }
table { border-collapse: collapse; margin: .4em 0; } td, th { border: 1px solid #ddd; padding: 2px 8px;
  text-align: left; vertical-align: top; } th { background: #f4f4f4; }
pre { background: #f7f7f7; padding: .6em; overflow-x: auto; max-height: 22em; font-size: 12px; }
.note { color: #666; } .failed { color: #c00; } svg { max-width: 100%; height: auto; }
</style></head><body>
<h1>Run {{ header.run }}</h1>
<section id="header"><h2>Run</h2>
<table>{% for key, value in header.items() %}<tr><th>{{ key }}</th><td>{{ value }}</td></tr>{% endfor %}</table>
{% if reason %}<pre class="failed">{{ reason }}</pre>{% endif %}
{% if parameters %}<h3>Parameters</h3><table>{% for key, value in parameters.items() %}
<tr><th>{{ key }}</th><td>{{ value }}</td></tr>{% endfor %}</table>{% endif %}
{% for step in steps %}<h3>Step {{ step.name }}: {{ step.status }}</h3>
<table>{% for key, value in step.counts.items() %}<tr><th>{{ key }}</th><td>{{ value }}</td></tr>{% endfor %}
{% if step.code %}<tr><th>code</th><td>{{ step.code | join("; ") }}</td></tr>{% endif %}</table>
{% if step.thresholds %}<table><tr>{% for key in step.thresholds %}<th>{{ key }}</th>{% endfor %}</tr>
<tr>{% for value in step.thresholds.values() %}<td>{{ value }}</td>{% endfor %}</tr></table>{% endif %}
{% if step.reason %}<pre>{{ step.reason }}</pre>{% endif %}
{% endfor %}</section>
{% if not local %}<p id="azure" class="note">This run ran on Azure ML: its folder records the run and its counts
only. Throughput, the workers' timelines and their logs are in Azure ML studio{% if portal %}:
<a href="{{ portal }}">{{ portal }}</a>{% endif %}.</p>{% endif %}
<section id="memory"><h2>Memory</h2>
<p>The driver's peak memory: {{ memory }}.</p>
{% for step in steps %}{% if step.memory %}<p>Step {{ step.name }}: each worker's peak memory, as its process had
it when the step ended (a worker restarted during the step: its last process's).</p>
<table><tr>{% for worker in step.memory %}<th>{{ worker }}</th>{% endfor %}</tr>
<tr>{% for mb in step.memory.values() %}<td>{{ "%.1f" | format(mb) }} MB</td>{% endfor %}</tr></table>
{% elif local %}<p>Step {{ step.name }}: the workers' peak memory was not recorded.</p>{% endif %}{% endfor %}
</section>
{% for step in steps %}{% set id = loop.index0 %}
{% if local %}
<section class="throughput" id="throughput-{{ id }}"><h2>Throughput: {{ step.name }}</h2>
{% if step.figures.throughput %}{{ step.figures.throughput | safe }}{% else %}<p class="note">No mini-batch
with a time recorded.</p>{% endif %}
{% if step.untimed %}<p class="note">{{ step.untimed }} mini-batches were committed by a runner that did not record
when: they are counted, not drawn.</p>{% endif %}</section>
<section class="timeline" id="timeline-{{ id }}"><h2>Workers: {{ step.name }}</h2>
{% if step.figures.timeline_binned %}<p class="note">Too many mini-batches to draw one bar each: each worker's
time is shown in bins, shaded by the share of it spent in run(); failures are marked per bin.</p>{% endif %}
{% if step.figures.timeline %}{{ step.figures.timeline | safe }}{% else %}<p class="note">Nothing to draw.</p>{% endif %}
</section>
<section class="durations" id="durations-{{ id }}"><h2>Mini-batch durations: {{ step.name }}</h2>
{% if step.quantiles %}<table><tr><th>p50</th><th>p95</th><th>p99</th><th>max</th></tr><tr>
{% for value in step.quantiles %}<td>{{ "%.3f" | format(value) }} s</td>{% endfor %}</tr></table>{% endif %}
{% if step.figures.durations %}{{ step.figures.durations | safe }}{% endif %}
<h3>The slowest mini-batches</h3>
<table class="slowest"><tr><th>mini-batch</th><th>seconds</th><th>worker</th><th>items</th></tr>
{% for slow in step.slowest %}<tr><td>{{ slow.mb }}</td><td>{{ "%.3f" | format(slow.secs) }}</td>
<td>{{ slow.worker }}</td><td>{{ slow.items | join(", ") }}</td></tr>{% endfor %}</table></section>
<section class="failures" id="failures-{{ id }}"><h2>Failures: {{ step.name }}</h2>
{% for group in step.errors %}<div class="error"><h3 class="failed">{{ group.count }} ×
{{ group.key }}{% if group.timeouts %} (timed out){% endif %}</h3>
<p>mini-batches: {{ group.mini_batches | join(", ") }}{% if group.count > group.mini_batches | length %}, …{% endif %}</p>
{% if group.items %}<p>items: {{ group.items | join(", ") }}</p>{% endif %}
{% if group.logs %}<p>worker logs: {% for worker, uri in group.logs.items() %}<a href="{{ uri }}">{{ worker }}</a>
{% endfor %}</p>{% endif %}
<details><summary>the first traceback</summary><pre>{{ group.traceback }}</pre></details></div>
{% else %}<p>No mini-batch failed.</p>{% endfor %}</section>
<section class="reuse" id="reuse-{{ id }}"><h2>Reused: {{ step.name }}</h2>
{% for said in step.reuse %}<p>{{ said }}</p>{% else %}<p>Nothing reused: every mini-batch ran in this
run.</p>{% endfor %}</section>
{% endif %}{% endfor %}
<p class="note">Written by runner report, {{ generated }}.</p>
</body></html>
"""


def page(**values: Any) -> str:
    from jinja2 import Environment

    return Environment(autoescape=True).from_string(TEMPLATE).render(**values)
