"""User-facing errors: the CLI prints their message on one line and exits non-zero, never a traceback."""


class BenchError(Exception):
    """Something the user can fix (bad input, missing artefact). Exit code 1."""

    exit_code = 1


class UsageError(BenchError):
    """An unknown name or an invalid option value. Exit code 2, like a command-line usage error."""

    exit_code = 2


class UnknownNameError(UsageError):
    """A name that is not in a registry; the message lists the valid names."""

    def __init__(self, kind: str, name: str, valid: list[str]):
        self.kind, self.name, self.valid = kind, name, valid
        super().__init__(f"unknown {kind} '{name}'; valid {kind}s: {', '.join(valid) or '(none)'}")


class MissingArtefactError(BenchError):
    """A file (weights, data) that is not on disk and cannot be downloaded here."""
