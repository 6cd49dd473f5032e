"""The daily report: papermill run, offline HTML, and the checks that guard it."""

from __future__ import annotations

import json
import re
import sys
from datetime import date
from pathlib import Path

import nbformat
import pytest

from workbench import analytics, plotting, report
from workbench.config import parse_config
from workbench.report import ReportError, count_notebook_figures, run_report, verify_html

NOTEBOOKS = Path(report.__file__).resolve().parents[1] / "notebooks"
SCRIPT_BODY = re.compile(r"(<script\b[^>]*>).*?(</script>)", re.S | re.I)
EXTERNAL_REF = re.compile(r"""\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.I)


@pytest.fixture(scope="module")
def daily(demo_store, demo_end, tmp_path_factory):
    """The daily report of the demo store's last day: (html path, html text, executed notebook)."""
    out = tmp_path_factory.mktemp("reports")
    # no config: the report must use the settings the simulator recorded in the store
    html_path = run_report(demo_store.root, "daily", demo_end, out)
    executed = nbformat.read(out / f"daily-{demo_end.isoformat()}.ipynb", as_version=4)
    return html_path, html_path.read_text(encoding="utf-8"), executed


def test_report_html_has_every_figure(daily, demo_end):
    path, html, executed = daily
    assert path.name == f"daily-{demo_end.isoformat()}.html"
    produced = count_notebook_figures(executed)
    assert produced >= 4  # hourly, trend, new vs returning, payments
    assert len(re.findall(r"<div\b[^>]*\bclass=\"plotly-graph-div\"", html)) == produced


def test_plotlyjs_inlined_exactly_once(daily):
    from plotly.offline import get_plotlyjs

    _, html, _ = daily
    assert html.count(get_plotlyjs()[-3000:]) == 1
    assert html.count("* plotly.js v") == 1


def test_report_needs_no_network(daily):
    _, html, _ = daily
    outside_scripts = SCRIPT_BODY.sub(r"\1\2", html)
    assert EXTERNAL_REF.findall(outside_scripts) == []
    assert "cdn" not in outside_scripts.lower()


def test_report_hides_code_and_shows_the_day(daily, demo_end):
    _, html, executed = daily
    assert "open_report(" not in html and "use_offline_renderer(" not in html
    assert demo_end.strftime("%d %b %Y") in html
    assert not any(
        o.get("output_type") == "error" for c in executed.cells for o in c.get("outputs", [])
    )


def test_report_notebooks_have_one_parameters_cell_and_no_outputs():
    notebooks = sorted((NOTEBOOKS / "reports").glob("*.ipynb"))
    assert notebooks, "no report notebooks found"
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1 and tagged[0].cell_type == "code", path.name
        assert sum("parameters" in str(c.metadata) for c in nb.cells) == 1, path.name
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, (
                    f"{path.name}: strip outputs"
                )


def test_executed_notebook_got_the_parameters(daily, demo_store):
    _, _, executed = daily
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    assert str(demo_store.root) in injected[0].source and "Asia/Kolkata" in injected[0].source


def test_parameters_carry_timezones_but_no_secrets(tmp_path):
    cfg = parse_config(
        {
            "timezone": "Asia/Kolkata",
            "cameras": [
                {"id": "door", "source": "rtsp://admin:hunter2@10.0.0.5/s1", "timezone": "UTC"}
            ],
            "alerts": {"webhooks": [{"url": "https://hooks.example/T000/secret"}]},
        }
    )
    params = report.notebook_parameters(tmp_path, date(2026, 11, 1), cfg)
    assert params["date"] == "2026-11-01" and params["store"] == str(tmp_path)
    assert "hunter2" not in params["config"] and "hooks.example" not in params["config"]
    again = parse_config(json.loads(params["config"]))
    assert again.timezone == "Asia/Kolkata" and again.camera_timezone("door") == "UTC"


def test_verify_html_rejects_cdn_and_missing_figures():
    figure = '<div id="a" class="plotly-graph-div"></div><script>/**\n* plotly.js v9 */</script>'
    assert verify_html(figure, 1)["figures"] == 1
    with pytest.raises(ReportError, match="external"):
        verify_html('<script src="https://cdn.example/require.js"></script>' + figure, 1)
    with pytest.raises(ReportError, match="external"):
        verify_html('<link rel="stylesheet" href="//fonts.example/f.css">' + figure, 1)
    with pytest.raises(ReportError, match="1 of the notebook's 2 figures"):
        verify_html(figure, 2)
    with pytest.raises(ReportError, match="no plotly.js"):
        verify_html('<div class="plotly-graph-div"></div>', 1)
    # URLs inside plotly.js itself are not references
    assert verify_html(figure + "<script>var a = '<a href=\"https://plotly.com/\">';</script>", 1)


def test_offline_renderer_sends_plotlyjs_once():
    import plotly.graph_objects as go

    plotting.use_offline_renderer()
    first = go.Figure(go.Bar(x=[1], y=[2]))._repr_mimebundle_()
    second = go.Figure(go.Bar(x=[1], y=[3]))._repr_mimebundle_()
    assert "* plotly.js v" in first["text/html"] and "* plotly.js v" not in second["text/html"]
    for bundle in (first, second):
        assert (
            plotting.PLOTLY_MIMETYPE in bundle and "cdn" not in bundle["text/html"].lower()[:2000]
        )


def test_kpi_cards_on_a_day_without_visits(make_store, demo_end):
    row = analytics.daily_summary(make_store(), demo_end, demo_end).iloc[-1]
    html = plotting.kpi_cards(row).data
    assert "Visits" in html and "₹0" in html


def test_clear_errors_for_bad_requests(demo_store, tmp_path):
    with pytest.raises(ReportError, match="unknown report 'monthly'; choose one of: daily, weekly"):
        run_report(demo_store.root, "monthly", out_dir=tmp_path)
    with pytest.raises(ReportError, match="does not exist"):
        run_report(tmp_path / "nowhere", out_dir=tmp_path)
    with pytest.raises(ReportError, match="YYYY-MM-DD"):
        run_report(demo_store.root, date="1/11/2026", out_dir=tmp_path, config=demo_store.config)


def test_failing_notebook_names_the_cell(demo_store, tmp_path, monkeypatch):
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                'store = ""\ndate = ""\nconfig = ""\ntimezone = ""',
                metadata={"tags": ["parameters"]},
            ),
            nbformat.v4.new_code_cell("raise ValueError('no coffee')"),
        ],
        metadata={
            "kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}
        },
    )
    (tmp_path / "reports").mkdir()
    nbformat.write(nb, tmp_path / "reports" / "daily.ipynb")
    monkeypatch.setattr(report, "NOTEBOOKS_DIR", tmp_path)
    with pytest.raises(
        ReportError, match=r"failed at In \[3\]: ValueError: no coffee; the executed notebook"
    ):
        run_report(demo_store.root, out_dir=tmp_path / "out", config=demo_store.config)


def test_kernel_is_this_python_whatever_kernelspecs_exist(demo_store, tmp_path, monkeypatch):
    broken = tmp_path / "jupyter" / "kernels" / "python3"
    broken.mkdir(parents=True)
    (broken / "kernel.json").write_text(
        '{"argv": ["/nonexistent/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],'
        ' "display_name": "broken", "language": "python"}'
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                'store = ""\ndate = ""\nconfig = ""\ntimezone = ""',
                metadata={"tags": ["parameters"]},
            ),
            nbformat.v4.new_code_cell(
                "import sys, workbench\nprint(sys.executable, list(workbench.__path__)[0])"
            ),
        ],
        metadata={
            "kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}
        },
    )
    (tmp_path / "reports").mkdir()
    nbformat.write(nb, tmp_path / "reports" / "daily.ipynb")
    monkeypatch.setattr(report, "NOTEBOOKS_DIR", tmp_path)
    html = run_report(
        demo_store.root, out_dir=tmp_path / "out", config=demo_store.config
    ).read_text()
    assert f"{sys.executable} {Path(report.__file__).parent}" in html


def test_open_report_as_a_notebook_sees_it(tmp_path, monkeypatch):
    (tmp_path / "repo" / "data" / "store").mkdir(parents=True)
    monkeypatch.setattr(report, "REPO_ROOT", tmp_path / "repo")
    monkeypatch.chdir(tmp_path)  # like JupyterLab, which runs a notebook in its own folder
    ctx = report.open_report("data/store", "2026-11-01", "", "Asia/Kolkata")
    assert ctx.store.root == tmp_path / "repo" / "data" / "store"
    assert (ctx.day, ctx.start) == (date(2026, 11, 1), date(2026, 10, 19))
    assert ctx.store.config.timezone == "Asia/Kolkata"
    with pytest.raises(ReportError, match="does not exist"):
        report.open_report("data/elsewhere")
