"""One exception hierarchy; the CLI maps each class to a one-line message and an exit code."""

from __future__ import annotations


class Pg2Error(Exception):
    """Base of every error pg2cli raises on purpose. `exit_code` is what the CLI exits with."""

    exit_code = 1


class UsageError(Pg2Error):
    """A bad option or combination of options (exit 2, like a command-line parse error)."""

    exit_code = 2


class DataError(Pg2Error):
    """An input file or value is not what was expected (exit 1)."""


class FormatError(DataError):
    """A file is malformed: carries the file, the line (when known) and the problem."""

    def __init__(self, path, problem: str, line: int | None = None):
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")


class OutputExistsError(UsageError):
    """An output already exists and --overwrite was not given."""

    def __init__(self, path):
        self.path = str(path)
        super().__init__(f"{self.path}: already exists (pass --overwrite to replace it)")


class MissingWeightsError(DataError):
    """Model weights are needed but none could be found or fetched."""


class TrainingError(Pg2Error):
    """Training could not go on (e.g. a non-finite loss)."""
