"""binder/ (repo2docker): rendered offline with ``jupyter-repo2docker --no-build``, and checked as files.

The image must have Python 3.11, the CPU build of PyTorch (Binder gives 1-2 GB of memory), the course's
pinned versions, course_utils installed and the course kernel registered as ``make setup`` does.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
R2D = shutil.which("jupyter-repo2docker") or str(Path(sys.executable).with_name("jupyter-repo2docker"))


def _requirement_lines() -> list[str]:
    return [l.split("#", 1)[0].strip() for l in (BINDER / "requirements.txt").read_text().splitlines()
            if l.split("#", 1)[0].strip()]


@pytest.fixture(scope="module")
def rendered() -> tuple[str, str]:
    """``(log, Dockerfile)`` of ``jupyter-repo2docker --no-build --no-run --debug`` on this repository."""
    if not Path(R2D).exists():
        pytest.skip("jupyter-repo2docker is not installed (pip install -c requirements/constraints.txt -e '.[test]')")
    proc = subprocess.run([R2D, "--no-build", "--no-run", "--debug", "--user-id", "1000", "--user-name", "jovyan",
                           str(ROOT)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    start = proc.stdout.find("FROM ")                # the Dockerfile on stdout, the log on stderr
    assert start >= 0, f"no Dockerfile in repo2docker's output:\n{proc.stdout[-3000:]}"
    return proc.stderr + proc.stdout[:start], proc.stdout[start:]


def test_rendered_image_has_python_311_and_installs_binder(rendered):
    log, dockerfile = rendered
    assert "python=3.11" in log                                       # repo2docker read binder/runtime.txt
    # the files copied into the image, named with repo2docker's escapes ("-2e" is ".", "-2d" "-", "-2f" "/")
    copied = [m.replace("-2e", ".").replace("-2d", "-").replace("-2f", "/")
              for m in re.findall(r"build_script_files/(\S+)", dockerfile)]
    assert any("environment.py-3.11-linux-64.lock" in c for c in copied), copied   # the conda env's lock file
    pip = dockerfile.index('pip install --no-cache-dir -r "binder/requirements.txt"')
    # the whole repository is copied first, so `-c ../requirements/constraints.txt` is there for pip
    assert re.search(r"COPY --chown=\S+ src/ \$\{REPO_DIR\}/\n", dockerfile).start() < pip
    assert pip < dockerfile.index("RUN ./binder/postBuild")


def test_requirements_take_the_cpu_torch_and_the_course_pins():
    lines = _requirement_lines()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines
    assert "-c ../requirements/constraints.txt" in lines
    torch = [l for l in lines if l.startswith("torch")]
    assert torch == ["torch==2.13.0+cpu"]
    pinned = (ROOT / "requirements" / "constraints.txt").read_text()
    assert "torch==2.13.0\n" in pinned                                # the constraint accepts the +cpu build
    names = {re.split(r"[=<>\[ ]", l)[0].lower() for l in lines if not l.startswith("-")}
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    wanted = {re.split(r"[=<>\[ ]", d)[0].lower() for d in deps}
    assert wanted <= names, f"binder/requirements.txt lacks the course dependencies {sorted(wanted - names)}"
    unpinned = sorted(n for n in names - {"torch"} if not re.search(rf"^{re.escape(n)}==", pinned, re.I | re.M)
                      and not any(l.lower().startswith(f"{n}==") for l in lines))
    assert not unpinned, f"not pinned in requirements/constraints.txt or binder/requirements.txt: {unpinned}"


def test_runtime_is_python_311():
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"


def test_post_build_installs_the_package_and_the_kernel_as_make_does():
    post = (BINDER / "postBuild").read_text()
    assert os.access(BINDER / "postBuild", os.X_OK)
    assert post.startswith("#!/usr/bin/env bash\n") and "\nset -euo pipefail\n" in post
    makefile = (ROOT / "Makefile").read_text()
    kernel = re.search(r"^KERNEL\s*:=\s*(\S+)", makefile, re.M).group(1)
    make_line = re.search(r"-m ipykernel install (.*?)(?: >|$)", makefile, re.M).group(1).strip()
    assert f"python -m ipykernel install {make_line.replace('$(KERNEL)', kernel)}" in post
    assert "python -m pip install --no-cache-dir --no-deps -e ." in post
    assert "python binder/prepare.py" in post
    subprocess.run(["bash", "-n", str(BINDER / "postBuild")], check=True)     # it parses


def test_prepare_script_names_what_the_lectures_cache():
    """binder/prepare.py warms the same caches the lectures read (the keys of lecture 7's feature grids)."""
    src = (BINDER / "prepare.py").read_text()
    lecture7 = (ROOT / "lectures" / "07_image_captioning.ipynb").read_text()
    assert "{cnn_info['sha256'][:12]}-{data.sha256[:12]}-" in src
    assert "{cnn_info['sha256'][:12]}-{data.sha256[:12]}-{s}" in lecture7.replace('\\"', '"')
    for call in ("load_cnn(", "fetch_corpus(", "load_captions(", "scene_features("):
        assert call in src
