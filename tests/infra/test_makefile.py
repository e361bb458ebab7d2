"""`make help` lists every target with the `##` comment beside it."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_make_help_lists_every_phony_target_with_its_description():
    makefile = (ROOT / "Makefile").read_text()
    phony = set(re.search(r"^\.PHONY:(.*)$", makefile, re.MULTILINE).group(1).split())
    described = dict(re.findall(r"^([a-z-]+):.*?## (.+)$", makefile, re.MULTILINE))
    assert phony == set(described), "every target needs a ## description (and a .PHONY entry)"
    out = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    listed = dict(re.findall(r"^  make (\S+)\s+(.+)$", out, re.MULTILINE))
    assert listed == {name: text.strip() for name, text in described.items()}


def test_a_bare_make_prints_the_help_rather_than_starting_anything():
    out = subprocess.run(["make", "-s", "-n"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "awk" in out and "local.stack" not in out
