"""The course website's staging (site/build_site.py): unit map, plotly outputs, no solutions, config.

Fast: nothing here runs Jupyter Book (tests/test_site_browser.py builds the site and opens it in Chromium).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "site"))
import build_site  # noqa: E402

sys.path.remove(str(ROOT / "site"))


def test_unit_map_covers_every_lecture_in_a_valid_order():
    units = build_site.load_units()
    assert {u["lecture"] for u in units} == {p.stem for p in (ROOT / "lectures").glob("[0-9][0-9]*.ipynb")}
    labs = [lab for u in units for lab in u["labs"]]
    assert sorted(labs) == sorted(p.stem for p in (ROOT / "labs").glob("*_lab.ipynb"))


def test_unit_map_rejects_a_unit_before_what_it_needs(tmp_path):
    units = yaml.safe_load((ROOT / "site" / "units.yml").read_text())
    units[0]["needs"] = ["3"]
    bad = tmp_path / "units.yml"
    bad.write_text(yaml.safe_dump(units))
    with pytest.raises(build_site.SiteError, match="must come before it"):
        build_site.load_units(bad)
    units[0]["needs"], units[0]["lecture"] = [], "99_missing"
    bad.write_text(yaml.safe_dump(units))
    with pytest.raises(build_site.SiteError, match="does not exist"):
        build_site.load_units(bad)


def test_plotly_output_becomes_html_for_the_local_plotly_js():
    nb = nbformat.read(ROOT / "lectures" / "03_rnn_basics.ipynb", as_version=4)
    before = [o for c in nb.cells for o in c.get("outputs", []) if build_site.PLOTLY_MIME in o.get("data", {})]
    assert before, "lecture 3 has no plotly figure any more: pick another lecture for this test"
    fig = before[0]["data"][build_site.PLOTLY_MIME]
    assert build_site.static_outputs(nb, "03") == len(before)
    after = [o for c in nb.cells for o in c.get("outputs", []) if "plotly-03-" in str(o.get("data", {}))]
    html = after[0]["data"]["text/html"]
    assert "Plotly.newPlot" in html and "<script" in html
    assert "cdn" not in html.lower() and "https://" not in html          # no plotly.js from the network
    assert json.dumps(fig["data"][0]["x"], separators=(",", ":")) in html  # the figure's own data is there


def test_a_widget_without_a_saved_view_stops_the_build():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("w")
    cell.outputs = [nbformat.v4.new_output("display_data",
                                           data={"application/vnd.jupyter.widget-view+json": {"model_id": "x"}})]
    nb.cells.append(cell)
    with pytest.raises(build_site.SiteError, match="no saved view"):
        build_site.static_outputs(nb, "x")


def test_a_lab_with_a_solution_marker_stops_the_build():
    nb = nbformat.read(ROOT / "solutions" / "03_rnn_basics_lab.ipynb", as_version=4)
    with pytest.raises(build_site.SiteError, match="never solutions"):
        build_site.check_no_solutions(nb, "solutions/03_rnn_basics_lab.ipynb")
    build_site.check_no_solutions(nbformat.read(ROOT / "labs" / "03_rnn_basics_lab.ipynb", as_version=4), "labs")


def test_landing_page_and_lab_section():
    from course_utils.grader.registry import all_labs
    units = build_site.load_units()
    page = build_site.landing_page(units)
    for u in units:
        assert f"lectures/{u['lecture']}.ipynb" in page
    assert "Order of study" in page and "Unit map" in page
    assert "Units that need nothing earlier: 1 (CNN visualisation), 3 (RNN basics)." in page
    section = build_site.lab_section(units[2], all_labs())
    spec = all_labs()["03_rnn_basics"]
    assert "../labs/03_rnn_basics_lab.ipynb" in section
    for q in spec.questions:
        assert q.id in section


def test_config_ships_mathjax_and_plotly_and_has_one_hub_value():
    cfg = yaml.safe_load((ROOT / "site" / "_config.yml").read_text())
    assert cfg["execute"]["execute_notebooks"] == "off"
    sphinx = cfg["sphinx"]["config"]
    assert not sphinx["mathjax_path"].startswith(("http:", "https:", "//"))
    assert all(not js.startswith(("http:", "https:", "//")) for js in sphinx["html_js_files"])
    assert "sphinx_thebe" not in sphinx["extensions"]
    assert cfg["launch_buttons"]["jupyterhub_url"].startswith("https://")
    pkg = json.loads((ROOT / "site" / "package.json").read_text())
    lock = json.loads((ROOT / "site" / "package-lock.json").read_text())
    assert pkg["dependencies"]["mathjax"] == lock["packages"]["node_modules/mathjax"]["version"]


def test_stage_overrides_the_launch_addresses(tmp_path, monkeypatch):
    """Stage only (no Jupyter Book): the options reach the staged config; no solution text is staged."""
    monkeypatch.setattr(build_site, "vendor", lambda stage: None)        # MathJax may be absent here
    stage = build_site.stage_book(tmp_path / "_build", hub_url="https://hub.uni.example", repo_url=None,
                                  branch="spring", binder_url=None)
    cfg = yaml.safe_load((stage / "_config.yml").read_text())
    assert cfg["launch_buttons"]["jupyterhub_url"] == "https://hub.uni.example"
    assert cfg["repository"]["branch"] == "spring"
    toc = yaml.safe_load((stage / "_toc.yml").read_text())
    assert [c["file"] for c in toc["chapters"]][0] == "lectures/01_cnn_visualisation"
    staged = "".join(p.read_text() for p in stage.rglob("*.ipynb"))
    assert "BEGIN SOLUTION" not in staged
    assert not (stage / "solutions").exists()
