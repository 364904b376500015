"""steptrace's JavaScript passes eslint's recommended rules (eslint.config.js): the page's
script and engine.js (steptrace/views/page/) and the conformance runner (tests/js/).

eslint comes from npm (package.json, pinned in package-lock.json; CI runs ``npm ci``). Where
it is not installed the files are checked with ``node --check`` alone (syntax), and the test
skips saying so; without Node it skips."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import ROOT

ESLINT = ROOT / "node_modules" / ".bin" / "eslint"
SCRIPTS = sorted([*(ROOT / "steptrace" / "views" / "page").glob("*.js"),
                  *(ROOT / "tests" / "js").glob("*.js")])


def test_the_javascript_passes_eslint() -> None:
    assert {"page.js", "engine.js", "conformance.js"} <= {script.name for script in SCRIPTS}
    if ESLINT.exists():
        done = subprocess.run([str(ESLINT), *map(str, SCRIPTS), str(ROOT / "eslint.config.js")],
                              capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert done.returncode == 0, done.stdout + done.stderr
        return
    node = shutil.which("node")
    if node is None:
        pytest.skip("neither eslint (npm ci) nor Node is installed: the JavaScript is not checked")
    for script in SCRIPTS:
        done = subprocess.run([node, "--check", str(script)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    pytest.skip("eslint is not installed (npm ci --no-audit --no-fund): the JavaScript was checked "
                "with node --check only (its syntax)")
