"""The command line's one error boundary (what `platform/http.py` is for the routes).

Every command runs inside `run_command`: an expected failure (a file that cannot be read, a bad
value, a key that does not fit its certificate, AWS out of reach, a domain error) becomes ONE
line on stderr that names what caused it, and exit status 2. Only a real bug shows a traceback,
and says it is a bug; `--debug` shows the traceback of expected failures too.

Handlers name the argument a failure belongs to with `about("--key")`: inside it, a domain error
or an unreadable file is reported as a problem of that argument. AWS failures are nobody's
argument: they go through unchanged and are reported as AWS being out of reach.
"""
from __future__ import annotations

import argparse
import csv
import sys
import traceback
from contextlib import contextmanager

from chalicelib.errors import DependencyUnavailable, DomainError

EXIT_USAGE = 2  # argparse's status for a usage error; every expected failure uses it
EXIT_BUG = 70  # EX_SOFTWARE (sysexits.h): an internal error
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader left


class CliError(Exception):
    """An operator's mistake or an unusable input, reported as `subject: problem`."""

    def __init__(self, subject: str, problem: str, *, code: str | None = None) -> None:
        super().__init__(f"{subject}: {problem}")
        self.subject = subject
        self.problem = problem
        self.code = code


class UsageProblem(Exception):
    """The command line itself is wrong (unknown flag, missing option): show that command's usage."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message


class ValueProblem(Exception):
    """An argument's value was refused by its type: one line is enough."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message


class CliParser(argparse.ArgumentParser):
    """argparse, but errors are raised to `main` instead of exiting, carrying the parser (the
    subcommand's, not the top-level one) whose usage applies."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("exit_on_error", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        raise UsageProblem(self, message)

    def parse_known_args(self, args=None, namespace=None):
        try:
            return super().parse_known_args(args, namespace)
        except argparse.ArgumentError as e:
            raise ValueProblem(self, str(e)) from None


@contextmanager
def about(subject: str):
    """Reports failures inside the block as problems of `subject` (an option, `stdin`, a line)."""
    try:
        yield
    except (CliError, DependencyUnavailable, BrokenPipeError):
        raise
    except DomainError as e:
        raise CliError(subject, e.message, code=e.code) from e
    except UnicodeDecodeError as e:
        raise CliError(subject, "is not UTF-8 text") from e
    except csv.Error as e:
        raise CliError(subject, f"is not a readable CSV file ({e})") from e
    except OSError as e:
        raise CliError(subject, os_problem(e)) from e


def _silence_stdout() -> None:
    import io
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (AttributeError, OSError, io.UnsupportedOperation):
        pass  # not a real file (tests capture it): nothing will flush to a closed pipe


def os_problem(e: OSError) -> str:
    where = f"{e.filename}: " if e.filename else ""
    return f"{where}{e.strerror or type(e).__name__}"


# -- AWS --------------------------------------------------------------------------------------
def _aws_cause(e: BaseException | None) -> BaseException | None:
    """The botocore/boto3/pynamodb error behind `e` (itself or a cause), if any."""
    seen = 0
    while e is not None and seen < 10:
        module = type(e).__module__ or ""
        if module.startswith(("botocore", "boto3", "pynamodb")):
            return e
        e, seen = e.__cause__ or e.__context__, seen + 1
    return None


def describe_aws(e: BaseException) -> str:
    """What went wrong talking to AWS, without the request's data: the error code and operation
    for an answer, the endpoint for a connection failure, the class name otherwise."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError

    from urllib.parse import urlsplit

    root = e
    # pynamodb and boto3's transfer manager wrap the botocore error; describe the innermost one.
    while True:
        inner = root.__cause__ or root.__context__
        if inner is None or _aws_cause(inner) is not inner:
            break
        root = inner
    if isinstance(root, NoCredentialsError):
        return "no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)"
    if isinstance(root, NoRegionError):
        return "no AWS region configured (set AWS_REGION)"
    if isinstance(root, EndpointConnectionError):
        url = urlsplit(str(root.kwargs.get("endpoint_url", "")))
        # Only where: the path and query may name a bucket's objects.
        where = f"{url.scheme}://{url.netloc}" if url.netloc else "the endpoint"
        return f"cannot connect to {where} (is AWS_ENDPOINT_URL right?)"
    if isinstance(root, ClientError):
        error = root.response.get("Error", {})
        return f"{error.get('Code', 'error')} from {root.operation_name}"
    cause = getattr(root, "cause", None)  # pynamodb keeps the botocore error here
    if isinstance(cause, BaseException) and cause is not root:
        return describe_aws(cause)
    return type(root).__name__


# -- the boundary -----------------------------------------------------------------------------
def _line(prog: str, message: str, code: str | None = None) -> str:
    tag = f"error [{code}]" if code else "error"
    return f"{prog}: {tag}: " + " ".join(message.split())  # one line, whatever the message held


def report(e: BaseException, prog: str, *, debug: bool) -> int:
    """Prints what the operator needs to read about `e`; returns the exit status."""
    from chalicelib.settings import SettingsError

    if isinstance(e, KeyboardInterrupt):
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if isinstance(e, BrokenPipeError):
        # `vaxpass verify | head`: the reader has what it wanted; nothing to report. Point stdout
        # at /dev/null so the interpreter's final flush does not fail again.
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    expected = True
    if isinstance(e, CliError):
        line = _line(prog, f"{e.subject}: {e.problem}", e.code)
    elif isinstance(e, DependencyUnavailable):
        cause = _aws_cause(e)
        detail = f" ({describe_aws(cause)})" if cause is not None else ""
        line = _line(prog, f"AWS: {e.message}{detail}", e.code)
    elif isinstance(e, DomainError):
        line = _line(prog, e.message, e.code)
    elif _aws_cause(e) is e:  # botocore, boto3 or pynamodb raised it, untranslated
        line = _line(prog, f"AWS: {describe_aws(e)}")
    elif isinstance(e, ModuleNotFoundError):
        line = _line(prog, f"the installation is incomplete: {e} (run `make venv`)")
    elif isinstance(e, SettingsError):
        line = _line(prog, f"configuration: {e}")
    elif isinstance(e, OSError):
        line = _line(prog, os_problem(e))
    else:
        expected = False
        line = (f"{prog}: internal error ({type(e).__name__}): this is a bug in vaxpass, not a "
                "mistake of yours; please report it with the traceback above")
    if debug or not expected:
        traceback.print_exception(e, file=sys.stderr)
    print(line, file=sys.stderr)
    return EXIT_USAGE if expected else EXIT_BUG


def parse(parser: argparse.ArgumentParser, argv) -> argparse.Namespace:
    """Parses `argv`; unknown arguments are blamed on the subcommand they were given to."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        raise UsageProblem(getattr(args, "_parser", None) or parser, f"unrecognized arguments: {' '.join(extra)}")
    return args


def report_parse_problem(p: UsageProblem | ValueProblem) -> int:
    if isinstance(p, UsageProblem):
        p.parser.print_usage(sys.stderr)
    print(_line(p.parser.prog, p.message), file=sys.stderr)
    return EXIT_USAGE
