"""The documentation: the README is a front door to the pages of docs/, the site builds
in strict mode (a broken link, a missing anchor or a page left out of the nav fails), and
every code example of the README and the pages is run or checked.

How each fenced block is held (a block's marker is an HTML comment on the line right
above its fence):

- ``python``: run as written, in a new Python in an empty directory, and it must exit 0.
  A block that defines pytest tests is run as a module (its tests are defined, not run).
  Pages listed in ``PRELUDES`` take some imports for granted (the plugin reference's
  examples are hook functions out of a plugin module): those are put before the block.
- ``sh``: every ``steptrace`` command in it must name a real command, with options that
  command has (``steptrace COMMAND --help``), and every ``docs/...`` path in it must exist;
  the Quickstart's first command is run (its ``steptrace`` part, in an empty directory).
  Other commands (pip, git, jupyter, mkdocs) are not run here.
- ``json``, ``toml``, ``yaml``: parsed; a TOML experiment (one with ``name`` and
  ``layers``) is read as an experiment file, every field checked.
- ``<!-- run-by: tests/test_NAME.py -->``: another test runs the block where it needs a
  setting of its own (a learner's loop inside the book's setup); that test must read the
  page. The plugin guide's ``<!-- guide-file: ... -->`` and ``<!-- guide-run -->`` blocks
  are ``tests/test_plugin_guide.py``'s.
- ``<!-- not-run: WHY -->``: not code to run (a signature, a browser console's lines);
  the reason is said.
- ``text`` (and blocks with no language, ``gitignore``): what a command prints. The
  transcripts are compared with the tool's own output by the tests of their pages
  (tests/test_readme.py, tests/test_learner.py, tests/test_learner_notebook.py).
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, RunCli

PAGES = sorted((ROOT / "docs").glob("*.md"))
DOCUMENTS = [ROOT / "README.md", *PAGES]

#: What a page's examples take for granted, put before each of its Python blocks.
PRELUDES = {
    # "A plugin imports what it needs from steptrace" (the reference's own words); a test
    # example imports the plugin under test, here an empty module named my_plugin.
    "plugin-reference.md": "from collections.abc import Callable\n\nimport numpy as np\n\n"
                           "from steptrace import *  # noqa: F403\n",
}

#: Languages whose blocks are output (what a command prints), not examples.
OUTPUT = {"text", "", "gitignore"}
CHECKED = {"python", "sh", "json", "toml", "yaml", "js"}
MARKER = re.compile(r"<!-- (not-run: .+|run-by: \S+|guide-file: \S+|guide-run) -->")


@dataclass(frozen=True)
class Block:
    document: Path
    line: int  # of the opening fence, from 1
    language: str
    code: str
    marker: str | None

    @property
    def name(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line}"


def blocks(document: Path) -> list[Block]:
    lines = document.read_text(encoding="utf-8").splitlines()
    found = []
    index = 0
    while index < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[index])
        if fence is None:
            index += 1
            continue
        end = index + 1
        while not lines[end].startswith("```"):
            end += 1
        above = MARKER.fullmatch(lines[index - 1].strip()) if index else None
        found.append(Block(document, index + 1, fence.group(1), "\n".join(lines[index + 1:end]) + "\n",
                           above.group(1) if above else None))
        index = end + 1
    return found


ALL = [block for document in DOCUMENTS for block in blocks(document)]


def of(language: str) -> list[Block]:
    return [block for block in ALL if block.language == language and block.marker is None]


# -- the site ----------------------------------------------------------------------------

@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None,
                    reason="the site is built with mkdocs: pip install -e '.[test]'")
def test_the_site_builds_in_strict_mode(tmp_path: Path) -> None:
    # (not -q: mkdocs's strict mode counts the warnings it logs, and -q logs none of them)
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                           "-f", ROOT / "mkdocs.yml", "-d", tmp_path / "site"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr and "Documentation built in" in done.stderr
    assert (tmp_path / "site" / "chapter6.ipynb").exists()  # the notebook, a file of the site
    for page in PAGES:
        built = tmp_path / "site" / ("index.html" if page.stem == "index" else f"{page.stem}/index.html")
        assert built.exists(), page


def test_a_broken_anchor_fails_the_strict_build(tmp_path: Path) -> None:
    """The strict build fails on what it says it checks: a link to an anchor no heading
    makes (a bold paragraph is not a heading)."""
    pytest.importorskip("mkdocs", reason="the site is built with mkdocs: pip install -e '.[test]'")
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs, ignore=shutil.ignore_patterns("__pycache__"))
    page = docs / "reliability.md"
    page.write_text(page.read_text(encoding="utf-8").replace("## Security\n", "**Security.**\n"),
                    encoding="utf-8")
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    (tmp_path / "mkdocs.yml").write_text(config, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                           "-f", tmp_path / "mkdocs.yml", "-d", tmp_path / "site"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert ("Doc file 'reliability.md' contains a link '#security', but there is no such "
            "anchor on this page.") in done.stderr


def test_every_page_is_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert "strict: true" in nav and "anchors: warn" in nav
    for page in PAGES:
        assert re.search(rf": {re.escape(page.name)}$", nav, re.M), page.name


# -- the front door ----------------------------------------------------------------------

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_is_a_front_door() -> None:
    assert len(README.splitlines()) <= 250
    assert re.search(r"!\[[^\]]+\]\(docs/\S+\.png\)", README)  # one picture
    for page in PAGES:
        if page.stem != "index":
            assert f"](docs/{page.name})" in README, f"the README does not link {page.name}"
    for name in ("LICENSE", "CHANGELOG.md"):
        assert f"]({name})" in README and (ROOT / name).exists()


def test_a_newcomer_reaches_the_notebook_by_links() -> None:
    """README -> docs/learning.md -> its Jupyter section: the command that opens the notebook."""
    assert "](docs/learning.md#jupyter-and-the-chapter-6-notebook)" in README
    learning = (ROOT / "docs" / "learning.md").read_text(encoding="utf-8")
    section = learning[learning.index("## Jupyter and the chapter 6 notebook\n"):]
    assert "```sh\npython -m pip install '.[jupyter]' && jupyter lab docs/chapter6.ipynb\n```" in section
    assert "](chapter6.ipynb)" in section
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    extras = pyproject["project"]["optional-dependencies"]
    assert any(need.startswith("jupyterlab") for need in extras["jupyter"])
    assert any(need.startswith("pandas") for need in extras["jupyter"])  # Trace.to_pandas
    assert any(need.startswith("mkdocs") for need in extras["test"])  # CI builds the site
    assert pyproject["project"]["license"] == "MIT"
    assert "Copyright (c)" in (ROOT / "LICENSE").read_text() and "the steptrace authors" in (
        ROOT / "LICENSE").read_text()


def test_the_quickstart_runs(run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Quickstart's first command, past its install, in an empty directory."""
    command = README[README.index("## Quickstart"):].split("```sh\n", 1)[1].split("\n", 1)[0]
    install, *steps = command.split(" && ")
    assert install == "python -m pip install ."
    monkeypatch.chdir(tmp_path)
    for step in steps:
        words = shlex.split(step)
        assert words[0] == "steptrace"
        done = run_cli(*words[1:])
        assert done.exit_code == 0, (step, done.stderr)
    assert "── epoch 0 · sample 0: layer_0 = streetlights[0] = [1, 0, 1]" in done.stdout


def test_the_tests_a_page_names_exist() -> None:
    """The reliability page names the test that holds each guarantee: each must be there."""
    defined = {name for test in (ROOT / "tests").glob("test_*.py")
               for name in re.findall(r"^def (test_\w+)", test.read_text(encoding="utf-8"), re.M)}
    page = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    named = re.findall(r"`(test_\w+)`", page)
    assert len(named) >= 20
    for name in named:
        assert name in defined, f"reliability.md names {name}, which no test defines"


# -- the examples ------------------------------------------------------------------------

def test_every_example_is_held_one_way() -> None:
    for block in ALL:
        assert block.language in OUTPUT | CHECKED, f"{block.name}: a {block.language!r} block"
        if block.language == "js":
            assert block.marker is not None, f"{block.name}: a js block needs a marker"
        if block.marker and block.marker.startswith("run-by: "):
            test = ROOT / block.marker.removeprefix("run-by: ")
            assert test.exists() and block.document.name in test.read_text(), block.name
        if block.marker and block.marker.startswith("guide"):
            assert block.document.name in (ROOT / "tests" / "test_plugin_guide.py").read_text()
    assert len(of("python")) >= 10  # (as many are run as there are on the pages)


@pytest.mark.parametrize("block", of("python"), ids=lambda block: block.name)
def test_python_example_runs(block: Block, tmp_path: Path) -> None:
    prelude = PRELUDES.get(block.document.name, "")
    if prelude:
        (tmp_path / "my_plugin.py").write_text("")
    (tmp_path / "example.py").write_text(prelude + block.code)
    done = subprocess.run([sys.executable, "example.py"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    assert done.returncode == 0, f"{block.name}:\n{block.code}\n{done.stderr}"


def steptrace_commands(code: str) -> list[list[str]]:
    commands = []
    for line in code.splitlines():
        line = line.split(" #", 1)[0].strip()
        for part in re.split(r"&&|\|\||;|\|", line):
            words = shlex.split(part.split(">", 1)[0])
            if words and words[0] == "steptrace":
                commands.append(words[1:])
    return commands


@pytest.mark.parametrize("block", of("sh"), ids=lambda block: block.name)
def test_shell_example_names_real_commands_and_paths(block: Block, run_cli: RunCli) -> None:
    for path in re.findall(r"(?<![\w/.])(docs/[\w./-]+)", block.code):
        assert (ROOT / path).exists(), f"{block.name}: {path}"
    for words in steptrace_commands(block.code):
        options = [word for word in words if word.startswith("-")]
        leading = []
        while words and words[0].startswith("-"):  # options before the command
            leading.append(words.pop(0))
            if leading[-1] in ("--plugins-dir",):
                words.pop(0)
        top = run_cli("--help").stdout
        for option in leading:
            assert option in top, f"{block.name}: steptrace {option}"
        if not words:
            continue
        helped = run_cli(words[0], "--help")
        assert helped.exit_code == 0, f"{block.name}: steptrace {words[0]} is no command"
        for option in options:
            if option not in leading:
                assert re.search(rf"(?<![\w-]){re.escape(option.split('=')[0])}\b", helped.stdout), (
                    f"{block.name}: steptrace {words[0]} has no option {option}")


@pytest.mark.parametrize("block", of("json") + of("toml") + of("yaml"), ids=lambda block: block.name)
def test_data_example_parses(block: Block, tmp_path: Path) -> None:
    if block.language == "json":
        json.loads(block.code)
    elif block.language == "yaml":
        yaml = pytest.importorskip("yaml", reason="PyYAML comes with mkdocs: pip install -e '.[test]'")
        yaml.safe_load(block.code)
    else:
        data = tomllib.loads(block.code)
        if "name" in data and "layers" in data:  # an experiment file
            import steptrace

            (tmp_path / "mine.toml").write_text(block.code)
            with warnings.catch_warnings():  # (a page's file records without a warning:
                warnings.simplefilter("error")  # none is named like a built-in it is not)
                assert steptrace.experiment(str(tmp_path / "mine.toml")).name == data["name"]
