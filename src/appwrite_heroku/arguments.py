"""The command line's argument parser: one line on stderr and exit status 2 for every error."""

from __future__ import annotations

import argparse
from typing import NoReturn

from .display import safe_line

_LONGEST_MESSAGE = 400


class OneLineParser(argparse.ArgumentParser):
    """argparse prints usage plus the error; we promise one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        # argparse quotes the value it refused: a 1 MB argument must not become a 1 MB line.
        if len(message) > _LONGEST_MESSAGE:
            message = f"{message[:_LONGEST_MESSAGE]}... ({len(message)} characters)"
        self.exit(2, f"{self.prog}: error: {safe_line(message)} (see --help)\n")
