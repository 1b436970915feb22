"""An output directory that cannot be written, or a disk too full, stops a run before it starts,
naming the setting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from physgen.config import ConfigError
from physgen.preflight import writable_dir

ROOT = Path(__file__).resolve().parents[2]


def test_a_writable_directory_is_made_and_left_clean(tmp_path):
    out = writable_dir("out", tmp_path / "a" / "b")
    assert out.is_dir() and list(out.iterdir()) == []


def test_a_path_under_a_file_or_a_full_disk_is_refused_by_name(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="out_dir=.*a directory this user can write"):
        writable_dir("out_dir", blocker / "run")
    with pytest.raises(ConfigError, match="MiB free"):
        writable_dir("out", tmp_path / "run", need=2**62)


def test_eval_refuses_an_unwritable_out_before_any_episode(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = subprocess.run([sys.executable, "-m", "physgen.cli", "eval", "--policy", "chance", "--tasks", "stability",
                           "--episodes", "1", "--out", str(blocker / "run")], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert proc.returncode == 2 and "out=" in proc.stderr and "write" in proc.stderr, proc.stderr
