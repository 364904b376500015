"""The plugin-authoring guide, followed as a new author would: its files written as
shown, its commands run as shown, in an empty folder, with nothing else to go on."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import INSTALLED, ROOT, present

README = (ROOT / "docs" / "plugins.md").read_text()  # the guide's page
FILES = re.findall(r"<!-- guide-file: (\S+) -->\n```\w+\n(.*?)```", README, re.S)
COMMANDS = re.search(r"<!-- guide-run -->\n```sh\n(.*?)```", README, re.S)


def test_the_guide_has_its_files_and_commands() -> None:
    assert [name for name, _ in FILES] == ["my_plugins/softsign.py", "test_softsign.py"]
    assert COMMANDS is not None


@pytest.mark.skipif(not INSTALLED, reason="the guide runs the steptrace command: pip install -e .")
def test_following_the_guide_gives_a_plugin_that_record_and_replay_use(tmp_path: Path) -> None:
    for name, text in FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    # (the guide is followed where an author works, not in CI mode: its update would be refused)
    env = {**{k: v for k, v in os.environ.items() if k != "CI"},
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "STEPTRACE_PLUGINS": "softsign"}
    outputs = []
    for command in present(COMMANDS).group(1).strip().splitlines():
        done = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True,
                              text=True)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        outputs.append(done.stdout)
    assert outputs[0].startswith("softsign file (")
    assert "  nonlinearities: softsign" in outputs[0]
    assert outputs[2].startswith("recorded softsign: 1740 events, 60 epoch(s), final error ")
    assert "layer_1 = softsign(layer_0 · weights_0_1) = softsign([" in outputs[3]
    assert outputs[4] == ("softsign.jsonl: all 1740 events match (bit for bit)\n"
                          "softsign.jsonl: the header agrees with its config (its own, not a "
                          "registered experiment's)\n")
    assert "2 passed" in outputs[6]
    assert (tmp_path / "golden" / "softsign.jsonl").exists()
