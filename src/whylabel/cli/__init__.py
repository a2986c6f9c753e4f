"""The `whylabel` command: a thin click face over the core.

Contract: commands only parse options, call core functions and print. Subcommands live in
modules that are imported only when that command runs, so `whylabel --help` never pays for
spaCy or scikit-learn. Every `WhylabelError` becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

import click

from ..errors import WhylabelError

# command name -> "module:attribute"; the module is imported only when the command is used.
COMMANDS = {
    "import": "whylabel.cli.data:import_cmd",
    "breakpoints": "whylabel.cli.data:breakpoints_cmd",
    "export": "whylabel.cli.data:export_cmd",
    "report": "whylabel.cli.data:report_cmd",
    "demo": "whylabel.cli.data:demo_cmd",
    "label": "whylabel.cli.label:label_cmd",
    "train": "whylabel.cli.model:train_cmd",
    "suggest": "whylabel.cli.model:suggest_cmd",
    "evaluate": "whylabel.cli.model:evaluate_cmd",
    "models": "whylabel.cli.model:models_cmd",
    "predict": "whylabel.cli.predict:predict_cmd",
    "agreement": "whylabel.cli.team:agreement_cmd",
    "suspicious": "whylabel.cli.team:suspicious_cmd",
}


class UserError(click.ClickException):
    """A problem with the user's input: one line, exit code 2, never a traceback."""

    exit_code = 2

    def __init__(self, message: str):
        # One line, whatever the message quotes (a header name with a line break in it).
        super().__init__(message.replace("\r", "\\r").replace("\n", "\\n"))

    def show(self, file=None) -> None:  # noqa: ANN001 - click's signature
        click.echo(f"whylabel: error: {self.format_message()}", err=True)


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if self._available(name)]

    def _available(self, name: str) -> bool:
        module = COMMANDS[name].split(":")[0]
        return importlib.util.find_spec(module) is not None

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS or not self._available(name):
            return None
        module, attr = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attr)

    def invoke(self, ctx: click.Context):  # noqa: ANN201
        try:
            return super().invoke(ctx)
        except WhylabelError as exc:
            raise UserError(str(exc)) from None
        except Exception as exc:
            from ..store import DatabaseError, database_error_message  # on failure only: --help stays cheap

            if isinstance(exc, DatabaseError):  # a full disk, a damaged or read-only database
                raise UserError(database_error_message(ctx.meta.get(DB_KEY, "the database"), exc)) from None
            if not isinstance(exc, OSError) or isinstance(exc, BrokenPipeError):
                raise
            from ..safefile import describe_os_error

            where = f"{exc.filename}: " if exc.filename else ""
            raise UserError(f"{where}{describe_os_error(exc)}") from None


DB_KEY = "whylabel.db_path"


def _remember_db(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """The command's --db, kept where the error handler can name it."""
    ctx.find_root().meta[DB_KEY] = value
    return value


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="whylabel")
def main() -> None:
    """Label the *why* behind customer-journey breakpoints.

    \b
    A typical week:
      whylabel import survey.csv --breakpoint checkout      # feedback in
      whylabel label                                       # label it in the terminal
      whylabel train                                       # learn from your labels
      whylabel predict new_export.csv -o labeled.csv       # auto-label the next export
      whylabel export -o breakpoints.csv --excel           # labeled breakpoints out

    Every command has --help with an example. Data lives in one SQLite file (--db, default
    ./whylabel.db, or $WHYLABEL_DB).
    """


def db_option(f):
    return click.option(
        "--db",
        "db_path",
        default=lambda: os.environ.get("WHYLABEL_DB", "whylabel.db"),
        show_default="whylabel.db or $WHYLABEL_DB",
        type=click.Path(),
        callback=_remember_db,
        help="Project database file.",
    )(f)


def codebook_option(f):
    return click.option(
        "--codebook",
        "codebook_path",
        default=lambda: os.environ.get("WHYLABEL_CODEBOOK") or None,
        type=click.Path(),
        help="Your own codebook TOML (default: the built-in one, or $WHYLABEL_CODEBOOK).",
    )(f)


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")(f)


def annotator_default() -> str:
    """--annotator, then $WHYLABEL_ANNOTATOR, then the OS user."""
    import getpass

    env = os.environ.get("WHYLABEL_ANNOTATOR")
    if env:
        return env
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user database in some containers
        return "researcher"


def show_progress() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


if __name__ == "__main__":  # pragma: no cover
    main()
