"""Executed notebook -> one self-contained HTML file, and the checks that it is one.

The exported page hides code, inlines everything it needs (plotly.js comes from
``workbench.plotting``'s offline renderer, the CSS from nbconvert's lab template)
and links to nothing: the lab template's require.js, MathJax, mermaid and widget
manager, all fetched from CDNs, are dropped. ``verify_html`` proves it.
"""

from __future__ import annotations

import logging
import re
from html.parser import HTMLParser

from workbench.errors import WorkbenchError
from workbench.plotting import FIGURE_DIV_CLASS, PLOTLY_MIMETYPE

log = logging.getLogger(__name__)

PLOTLYJS_MARKER = "* plotly.js v"  # first line of the plotly.js bundle's licence header
# The lab template, minus everything it would fetch from a CDN (require.js, MathJax,
# mermaid, the widget manager). Our renderer inlines plotly.js itself. In print (the
# PDF) the charts' toolbars are hidden and a chart is not split across pages.
OFFLINE_TEMPLATE_NAME = "workbench_offline.html.j2"
OFFLINE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{% block html_head_js_requirejs %}{% endblock html_head_js_requirejs %}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{% block html_head_js_mathjax %}{% endblock html_head_js_mathjax %}
{% block html_head_js_mermaidjs %}{% endblock html_head_js_mermaidjs %}
{% block extra_css %}<style>
@media print {
  .modebar-container { display: none !important; }
  .jp-OutputArea-output, .plotly-graph-div { break-inside: avoid; }
}
</style>{% endblock extra_css %}
"""


class ReportError(WorkbenchError):
    """A report could not be produced, or came out incomplete."""


def count_notebook_figures(nb) -> int:
    """Plotly figures among an executed notebook's outputs."""
    return sum(
        1
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if PLOTLY_MIMETYPE in out.get("data", {})
        or FIGURE_DIV_CLASS in str(out.get("data", {}).get("text/html", ""))
    )


def notebook_to_html(nb, title: str) -> str:
    """HTML of an executed notebook: outputs only, no stderr, no external scripts or styles."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    for cell in nb.cells:
        kept = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                log.warning(
                    "report cell wrote to stderr: %s", str(out.get("text", "")).strip()[:500]
                )
            else:
                kept.append(out)
        if cell.cell_type == "code":
            cell.outputs = kept
    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({OFFLINE_TEMPLATE_NAME: OFFLINE_TEMPLATE})],
        template_file=OFFLINE_TEMPLATE_NAME,
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    html, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    return html


class _HtmlAudit(HTMLParser):
    """Collects external references and plotly figure divs (script bodies are not parsed)."""

    EXTERNAL = re.compile(r"^\s*(https?:|ftp:|file:)?//", re.I)
    CSS_URL = re.compile(r"""(?:url\(|@import)\s*['"]?\s*((?:https?:)?//[^'")\s]+)""", re.I)

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.external: list[str] = []
        self.figures = 0
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        values = dict(attrs)
        for name in ("src", "href", "data", "poster", "srcset"):
            value = values.get(name)
            if value and self.EXTERNAL.match(value):
                self.external.append(f"<{tag} {name}={value!r}>")
        if tag == "div" and FIGURE_DIV_CLASS in (values.get("class") or "").split():
            self.figures += 1
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.external += [f"CSS {u}" for u in self.CSS_URL.findall(data)]


def verify_html(html: str, expected_figures: int) -> dict:
    """Check an exported report; raise ReportError if it would need the internet or lost figures.

    Returns ``{"figures": ..., "plotlyjs": ..., "bytes": ...}``.
    """
    audit = _HtmlAudit()
    audit.feed(html)
    audit.close()
    plotlyjs = html.count(PLOTLYJS_MARKER)
    if audit.external:
        shown = "; ".join(sorted(set(audit.external))[:5])
        raise ReportError(
            f"the report HTML refers to {len(audit.external)} external resource(s): {shown}"
        )
    if audit.figures < expected_figures:
        raise ReportError(
            f"the report HTML shows {audit.figures} of the notebook's {expected_figures} figures; "
            "call workbench.plotting.use_offline_renderer() in the notebook's first cell"
        )
    if audit.figures and not plotlyjs:
        raise ReportError("the report HTML has figures but no plotly.js, so they would stay blank")
    return {"figures": audit.figures, "plotlyjs": plotlyjs, "bytes": len(html.encode())}
