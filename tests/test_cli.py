"""The `appwrite-heroku` command as a shell runs it: a reader that stops early (`| head -1`)
is no error of ours, for every command, and never produces a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # each test runs the command as a process, through a pipe

COMMAND = shutil.which("appwrite-heroku") or ""
# (arguments, exit status): argparse itself ignores a failed write of its help and exits 0.
CASES = [(["budget", "--profile", "default"], 141), (["--help"], 0), (["plan", "--help"], 0)]


@pytest.mark.skipif(not COMMAND, reason="the console script is installed with the package")
def test_budget_piped_into_head_prints_its_first_line_only() -> None:
    done = subprocess.run(f"'{COMMAND}' budget --profile default | head -1", shell=True,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0
    assert len(done.stdout.splitlines()) == 1 and done.stdout.strip()
    assert done.stderr == ""


@pytest.mark.parametrize(("args", "status"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_a_reader_that_is_already_gone_ends_the_command_quietly(args: list[str],
                                                                status: int) -> None:
    """The read end is closed before the command writes, so its write fails every time (a
    `| head` only sometimes closes first): a command's output ends with exit status 141, as
    if killed by SIGPIPE, and nothing on stderr."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, "-m", "appwrite_heroku", *args],
                              stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60,
                              check=False)
    finally:
        os.close(write_end)
    assert done.stderr == ""
    assert done.returncode == status
