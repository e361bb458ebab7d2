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


def _make_with_recording_python(tmp_path: Path, target: str, failing: str, *args: str):
    """Runs `make target` with the stack's Python replaced by a script that records each call
    and fails the one whose arguments contain `failing`."""
    log = tmp_path / "calls"
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\necho "$*" >> {log}\ncase "$*" in *"{failing}"*) exit 3;; esac\n')
    python.chmod(0o755)
    done = subprocess.run(
        ["make", "-s", target, f"APP_PY={python}", "STACK=true", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return done, log.read_text().splitlines()


def test_make_chaos_runs_the_fuzzing_after_a_failed_scenario_and_then_fails(tmp_path):
    done, calls = _make_with_recording_python(tmp_path, "chaos", "pytest")
    assert [c.split()[1] for c in calls] == ["pytest", "tests.chaos.fuzz", "tests.chaos.report"]
    assert done.returncode != 0 and "make chaos: FAILED" in done.stdout


def test_make_chaos_fails_when_only_the_fuzzing_failed(tmp_path):
    done, calls = _make_with_recording_python(tmp_path, "chaos", "tests.chaos.fuzz")
    assert len(calls) == 3 and done.returncode != 0


def test_make_chaos_quick_runs_the_quick_scenarios_and_a_short_fuzzing(tmp_path):
    done, calls = _make_with_recording_python(tmp_path, "chaos", "nothing fails", "QUICK=1")
    assert done.returncode == 0 and "make chaos: passed" in done.stdout
    assert "-m chaos_quick" in calls[0]
