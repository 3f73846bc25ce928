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


def in_brief(exc: BaseException, limit: int = 160, otherwise: str | None = None) -> str:
    """An exception's message on one line, for an error that names a file: its first line, and the next
    too when the first only announces it (``load_state_dict``'s "Error(s) in loading state_dict for X:"
    says nothing of what is missing or mismatched). An empty message gives ``otherwise`` (default: the
    exception's type)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = " ".join(lines[:2]) if lines and lines[0].endswith(":") else (lines[0] if lines else "")
    return text[:limit] or (type(exc).__name__ if otherwise is None else otherwise)
