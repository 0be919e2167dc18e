"""Build the course website with Jupyter Book 1.x from the committed notebooks (``make site``).

    .venv/bin/python site/build_site.py [--hub-url URL] [--repo-url URL] [--branch B] [--binder-url URL]

Nothing is executed: the pages show the outputs committed in ``lectures/`` and ``labs/``. Steps:

1. stage a book in ``_build/site-src/``: ``site/_config.yml`` (launch-button addresses overridden by the
   options), a ``_toc.yml`` and landing page made from ``site/units.yml`` (the unit map and the order of
   study), each lecture with a closing "Lab" section listing its lab's questions, and the student labs
   (``labs/``, never ``solutions/``; a lab holding a solution marker stops the build);
2. make the outputs static-site friendly: plotly figures (``application/vnd.plotly.v1+json``) become
   HTML drawn by the local plotly.js; widgets already show the figure saved for their first setting;
3. ship what the pages load so that the site works offline: MathJax 3 from the npm package ``mathjax``
   (``site/package.json``; fetched once by ``npm ci --prefix site``, which this script runs when it is missing) and plotly.js from the
   ``plotly`` Python package (the same version that drew the figures);
4. ``jupyter-book build`` into ``_build/html/`` (warnings are errors).
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "site"
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN")
PLOTLY_MIME = "application/vnd.plotly.v1+json"


class SiteError(RuntimeError):
    """The site cannot be built as asked; the message says what to fix."""


def load_units(path: Path = SITE / "units.yml") -> list[dict]:
    """The unit map, checked: every lecture and lab exists, and every unit comes after what it needs."""
    units = yaml.safe_load(path.read_text())
    seen: set[str] = set()
    for u in units:
        for key in ("unit", "title", "lecture", "labs", "needs"):
            if key not in u:
                raise SiteError(f"{path}: unit {u.get('unit', '?')} has no {key!r}")
        if not (ROOT / "lectures" / f"{u['lecture']}.ipynb").is_file():
            raise SiteError(f"{path}: unit {u['unit']}: lectures/{u['lecture']}.ipynb does not exist")
        for lab in u["labs"]:
            if not (ROOT / "labs" / f"{lab}.ipynb").is_file():
                raise SiteError(f"{path}: unit {u['unit']}: labs/{lab}.ipynb does not exist (run course assign)")
        late = [n for n in u["needs"] if n not in seen]
        if late:
            raise SiteError(f"{path}: unit {u['unit']} needs unit(s) {late}, which must come before it")
        seen.add(str(u["unit"]))
    missing = sorted({p.stem for p in (ROOT / "lectures").glob("[0-9][0-9]*.ipynb")} - {u["lecture"] for u in units})
    if missing:
        raise SiteError(f"{path}: lecture(s) {missing} are not in the unit map; add them")
    return units


def plotly_to_html(output: dict, div_id: str) -> dict:
    """A plotly output (JSON only) as a ``text/html`` output drawn by the page's local plotly.js."""
    import plotly.io as pio
    fig = output["data"][PLOTLY_MIME]
    html = pio.to_html(fig, include_plotlyjs=False, full_html=False, div_id=div_id,
                       config={"displaylogo": False, "responsive": True}, validate=False)
    new = copy.deepcopy(output)
    new["data"] = {"text/html": html, **{k: v for k, v in output["data"].items()
                                          if k not in (PLOTLY_MIME, "text/html")}}
    return new


def static_outputs(nb: nbformat.NotebookNode, stem: str) -> int:
    """Rewrite outputs a static page cannot show as they are; return how many plotly figures changed."""
    n = 0
    for i, cell in enumerate(nb.cells):
        for j, out in enumerate(cell.get("outputs", [])):
            if PLOTLY_MIME in out.get("data", {}):
                cell.outputs[j] = nbformat.from_dict(plotly_to_html(out, f"plotly-{stem}-{i}-{j}"))
                n += 1
            data = out.get("data", {})
            if "application/vnd.jupyter.widget-view+json" in data and len(data) == 1:
                raise SiteError(f"{stem}: cell {i} holds a widget with no saved view; run it with "
                                "`course nb run` so the widget saves its figure")
    return n


def check_no_solutions(nb: nbformat.NotebookNode, where: str) -> None:
    for i, cell in enumerate(nb.cells):
        if any(m in cell.source for m in SOLUTION_MARKERS):
            raise SiteError(f"{where}: cell {i} holds a solution marker; the site takes labs/ (course assign), "
                            "never solutions/")


def lab_section(unit: dict, labs: dict) -> str:
    """The Markdown of the "Lab" section appended to a lecture page."""
    lines = [f"## Lab of unit {unit['unit']}", ""]
    for lab in unit["labs"]:
        spec = labs.get(lab.removesuffix("_lab"))
        title = spec.title if spec else lab
        lines += [f"**[{title}](../labs/{lab}.ipynb)** (`labs/{lab}.ipynb`): fill in each `# YOUR CODE HERE`, "
                  "check it with `check(\"qN\")`, then `submit()`. Open it with the launch button on its page.", ""]
        if spec:
            lines += ["| question | what you write | points |", "|---|---|---|"]
            lines += [f"| {q.id} | {q.title.replace('|', '/')} | {q.points:g} |" for q in spec.questions]
            lines.append("")
    return "\n".join(lines)


def landing_page(units: list[dict]) -> str:
    by_id = {str(u["unit"]): u for u in units}
    rows = []
    for u in units:
        needs = ", ".join(f"{n} ({by_id[n]['title']})" for n in u["needs"]) or "—"
        labs = ", ".join(f"[{lab}](labs/{lab}.ipynb)" for lab in u["labs"])
        rows.append(f"| {u['unit']} | [{u['title']}](lectures/{u['lecture']}.ipynb) | {labs} | {needs} | "
                    f"{u.get('thread', '')} |")
    order = " → ".join(str(u["unit"]) for u in units)
    starts = ", ".join(f"{u['unit']} ({u['title']})" for u in units if not u["needs"])
    joins = [u for u in units if len({by_id[n].get("thread") for n in u["needs"]}) > 1]
    join_text = "".join(f" Unit {u['unit']} ({u['title']}) brings together units {' and '.join(u['needs'])}."
                        for u in joins)
    return "\n".join([
        "# Visualising CNNs and Recurrent Neural Networks", "",
        "An interactive course in eight units: what convolutional networks see and how to fool them, then "
        "recurrent networks from the recurrence to LSTMs, image captioning and monitoring training. "
        "Each unit is a lecture notebook followed by a lab. These pages show the notebooks with their "
        "saved outputs; to run them, use the launch buttons at the top of a page (Binder, or your "
        "course's JupyterHub).", "",
        "## Unit map", "",
        "| unit | lecture | lab | study first | thread |", "|---|---|---|---|---|", *rows, "",
        "## Order of study", "",
        f"The order of the menu works: {order}. Any order in which each unit comes after the units in its "
        f"*study first* column works too. Units that need nothing earlier: {starts}.{join_text} In each unit, "
        "read the lecture top to bottom, then do its lab.", "",
        "## On these pages", "",
        "- Equations are typeset by MathJax and charts drawn by plotly.js, both served with the site: the "
        "pages work offline.",
        "- Sliders and other widgets show the figure saved for their first setting; run the notebook to "
        "move them.",
        "- Labs are shown as students get them (`labs/`); solutions are not published.", "",
    ])


def vendor(stage: Path) -> None:
    """Copy MathJax (npm) and plotly.js (the plotly package) into the staged book's static folder."""
    import plotly
    mathjax = SITE / "node_modules" / "mathjax" / "es5"
    if not (mathjax / "tex-mml-chtml.js").is_file() and shutil.which("npm"):
        # the version in site/package-lock.json, checksum verified by npm; offline once fetched
        subprocess.run(["npm", "ci", "--prefix", str(SITE), "--no-audit", "--no-fund"], check=False,
                       capture_output=True, timeout=600)
    if not (mathjax / "tex-mml-chtml.js").is_file():
        raise SiteError(f"{mathjax} is missing: install Node.js's npm and run `npm ci --prefix site` to fetch MathJax")
    shutil.copytree(mathjax, stage / "_vendor" / "mathjax")
    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    (stage / "_vendor" / "plotly").mkdir(parents=True)
    shutil.copy(plotly_js, stage / "_vendor" / "plotly" / "plotly.min.js")


def stage_book(out: Path, *, hub_url: str | None, repo_url: str | None, branch: str | None,
               binder_url: str | None) -> Path:
    from course_utils.grader.registry import all_labs
    units = load_units()
    stage = out / "site-src"
    if stage.exists():
        shutil.rmtree(stage)
    (stage / "lectures").mkdir(parents=True)
    (stage / "labs").mkdir()
    config = yaml.safe_load((SITE / "_config.yml").read_text())
    if hub_url is not None:
        config["launch_buttons"]["jupyterhub_url"] = hub_url
    if binder_url is not None:
        config["launch_buttons"]["binderhub_url"] = binder_url
    if repo_url is not None:
        config["repository"]["url"] = repo_url
    if branch is not None:
        config["repository"]["branch"] = branch
    (stage / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    labs = all_labs()
    toc = {"format": "jb-book", "root": "index", "chapters": []}
    for u in units:
        nb = nbformat.read(ROOT / "lectures" / f"{u['lecture']}.ipynb", as_version=4)
        static_outputs(nb, u["lecture"])
        nb.cells.append(nbformat.v4.new_markdown_cell(lab_section(u, labs)))
        nbformat.write(nb, stage / "lectures" / f"{u['lecture']}.ipynb")
        for lab in u["labs"]:
            lab_nb = nbformat.read(ROOT / "labs" / f"{lab}.ipynb", as_version=4)
            check_no_solutions(lab_nb, f"labs/{lab}.ipynb")
            static_outputs(lab_nb, lab)
            nbformat.write(lab_nb, stage / "labs" / f"{lab}.ipynb")
        toc["chapters"].append({"file": f"lectures/{u['lecture']}",
                                "sections": [{"file": f"labs/{lab}"} for lab in u["labs"]]})
    (stage / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    (stage / "index.md").write_text(landing_page(units))
    vendor(stage)
    return stage


def build(out: Path, **kwargs: str | None) -> Path:
    """Stage and build; return the HTML folder."""
    stage = stage_book(out, **kwargs)
    jb = Path(sys.executable).with_name("jupyter-book")
    if not jb.exists():
        raise SiteError("jupyter-book is not installed in this environment: "
                        "pip install -c requirements/constraints.txt -e '.[site]' (make site does)")
    html = out / "html"
    if html.exists():
        shutil.rmtree(html)
    cmd = [str(jb), "build", str(stage), "--path-output", str(out.parent), "--warningiserror", "--keep-going",
           "--quiet"]
    if out.name != "_build":
        raise SiteError("the output folder must be named _build (Jupyter Book writes PATH/_build/html)")
    proc = subprocess.run(cmd, cwd=ROOT, text=True, capture_output=True)
    if proc.returncode != 0:
        raise SiteError(f"jupyter-book build failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return html


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "_build", help="output folder, named _build (default ./_build)")
    p.add_argument("--hub-url", default=None, help="the JupyterHub of the launch buttons (default: site/_config.yml)")
    p.add_argument("--repo-url", default=None, help="the repository students launch (default: site/_config.yml)")
    p.add_argument("--branch", default=None)
    p.add_argument("--binder-url", default=None, help="BinderHub address (default https://mybinder.org)")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    try:
        html = build(args.out.resolve(), hub_url=args.hub_url or None, repo_url=args.repo_url or None,
                     branch=args.branch or None, binder_url=args.binder_url or None)
    except SiteError as exc:
        print(f"make site: {exc}", file=sys.stderr)
        return 2
    print(f"site built in {time.perf_counter() - t0:.0f} s: {html / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
