"""CLI test helpers shared by the test modules: run ``codec`` in-process and check
the outcome the way a user sees it."""

from click.testing import CliRunner

from lvc.cli.main import cli


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def ok(result):
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def assert_user_error(result, code):
    """Exactly one `error: ...` line on stderr, the documented code, no traceback."""
    assert result.exit_code == code, (result.exit_code, result.stderr, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
