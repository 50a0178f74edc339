"""The one error hierarchy of lvc.

Every failure a user can cause (bad file, wrong codec, corrupt stream, missing
dependency) is an ``LVCError`` subclass with a one-line message and a distinct
process exit code, so the CLI can print one line and exit without a traceback.
This module imports nothing from lvc so every layer can use it.
"""

from __future__ import annotations


class LVCError(Exception):
    """Base of all lvc errors. ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class BadInputError(LVCError, ValueError):
    """The caller passed something lvc cannot use (bad array, quality, option)."""

    exit_code = 2


class UnsupportedMediaError(BadInputError):
    """A file or array that is not a supported image/audio signal for this codec."""

    exit_code = 3


class MissingFileError(LVCError, FileNotFoundError):
    """An input path does not exist."""

    exit_code = 3


class OutputExistsError(LVCError, FileExistsError):
    """The output exists and ``--force`` / ``overwrite=True`` was not given. The message
    names the API's argument; the CLI shows its own flag instead (``cli_message``)."""

    exit_code = 4
    API_HINT = "pass overwrite=True to replace it"
    CLI_HINT = "use --force to replace it"


class FormatError(LVCError):
    """Bytes that are not a valid .lvc file. Subclasses say what exactly is wrong."""

    exit_code = 5


class NotLVCError(FormatError):
    """The magic bytes are not those of an .lvc file."""


class VersionError(FormatError):
    """The file was written by a newer major version of the format."""


class TruncatedError(FormatError):
    """The file ends before the header or a declared stream does."""


class ChecksumError(FormatError):
    """A header or stream checksum does not match: the bytes were corrupted."""


class LimitError(FormatError):
    """Declared dimensions or sizes exceed the safety limit (refused before allocating)."""


class CorruptStreamError(FormatError):
    """An entropy-coded stream failed to decode or its symbol CRC did not match."""


class UnknownCodecError(LVCError, KeyError):
    """No codec is registered under this id."""

    exit_code = 6

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class CodecUnavailableError(LVCError):
    """The codec is registered but cannot run here (missing dependency or weights)."""

    exit_code = 6


class ModelMismatchError(LVCError):
    """The file was encoded with different weights than the ones installed."""

    exit_code = 7


def run_main(main, argv=None) -> int:
    """Run a ``python -m`` entry point's ``main(argv)``: a user error (``LVCError``, or an
    ``OSError`` such as a missing file) becomes one ``error: ...`` line on stderr and its
    exit code instead of a traceback. For the module entry points outside the ``codec``
    CLI (training, weight export); the CLI has its own handler with the same output."""
    import sys

    try:
        main(argv)
    except LVCError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except OSError as e:
        print(f"error: {e.strerror or e}: {e.filename}" if e.filename else f"error: {e}",
              file=sys.stderr)
        return 1
    except (MemoryError, RuntimeError) as e:
        if not out_of_memory(e):
            raise
        print(f"error: {OUT_OF_MEMORY}", file=sys.stderr)
        return 1
    return 0


def out_of_memory(e: BaseException) -> bool:
    """A failed allocation: numpy's ``MemoryError`` or torch's CPU allocator error (a
    ``RuntimeError``), which a user should see as one line, not a traceback."""
    return isinstance(e, MemoryError) or (
        isinstance(e, RuntimeError) and "can't allocate memory" in str(e))


OUT_OF_MEMORY = ("out of memory (the machine's or the process's limit); LVC_MAX_BYTES bounds "
                 "what lvc attempts (default 2 GiB)")


def cli_message(message: str) -> str:
    """A library message as the CLI says it (flags instead of keyword arguments)."""
    return message.replace(OutputExistsError.API_HINT, OutputExistsError.CLI_HINT)


def describe(error: Exception, *paths) -> str:
    """One line for a user error, naming the input file when the message names no file."""
    if isinstance(error, OSError) and not isinstance(error, LVCError) and error.strerror:
        message = f"{error.filename}: {error.strerror}" if error.filename else error.strerror
    else:
        message = str(error)
    if paths and not any(str(p) in message for p in paths):
        message = f"{paths[0]}: {message}"
    return message
