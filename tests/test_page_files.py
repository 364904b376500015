"""The step-through page's code lives in files of its own language (steptrace/views/page/):
they make one self-contained page, ship in the package, and the script is valid JavaScript
(checked with Node where it is installed, as on CI's machine)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from importlib.resources import files

import pytest

from steptrace.views.page import PAGE
from tests.conftest import ROOT

PAGE_DIR = ROOT / "steptrace" / "views" / "page"


def test_the_page_is_its_three_files_put_together() -> None:
    html = (PAGE_DIR / "page.html").read_text()
    css = (PAGE_DIR / "page.css").read_text()
    script = (PAGE_DIR / "page.js").read_text()
    assert PAGE.startswith("<!DOCTYPE html>") and PAGE.endswith("</body></html>\n")
    assert PAGE.count("/*EVENTS*/") == PAGE.count("/*DATA*/") == 1
    assert css in PAGE and script in PAGE and "/*STYLE*/" not in PAGE and "/*SCRIPT*/" not in PAGE
    assert PAGE.index(css) < PAGE.index("</style>") < PAGE.index(script)
    # nothing is fetched: no external script, style, font or image
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html + css + script)


def test_the_files_ship_in_the_package() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "steptrace.views.page" in setuptools["packages"]
    shipped = setuptools["package-data"]["steptrace.views.page"]
    assert sorted(shipped) == sorted(p.name for p in PAGE_DIR.iterdir()
                                     if p.suffix in {".html", ".css", ".js"})
    # the JavaScript engine (engine.js) ships beside the page's files, read as they are
    assert "engine.js" in shipped
    engine = files("steptrace.views.page").joinpath("engine.js").read_text(encoding="utf-8")
    assert "globalThis" in engine and "module.exports" in engine


@pytest.mark.skipif(shutil.which("node") is None, reason="Node is not installed: the page's "
                    "script is not checked here (CI's machine has Node 20)")
def test_the_script_is_valid_javascript() -> None:
    done = subprocess.run(["node", "--check", str(PAGE_DIR / "page.js")], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
