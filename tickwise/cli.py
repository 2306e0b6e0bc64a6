"""``tickwise``: the command line. Every subcommand explains itself with ``--help``.

Errors print one line and exit non-zero; ``tickwise --debug ...`` shows the traceback.
"""

import logging
import sys

import typer
from typer.core import TyperOption

from tickwise import cli_audit, cli_data, cli_features, cli_feed, cli_flink, cli_lake, cli_model, cli_serve

_type_of = TyperOption.display_type_rich


def _flag_without_type(self: TyperOption, ctx) -> str | None:  # type: ignore[no-untyped-def]
    """A flag takes no value: its help row shows none (typer 0.29 prints ``<bool>`` beside every flag)."""
    return None if self.is_flag and not self.count else _type_of(self, ctx)


TyperOption.display_type_rich = _flag_without_type  # type: ignore[method-assign]

app = typer.Typer(
    help="tickwise — short-horizon equity direction signals: simulate or ingest market data, build bars and "
    "features, validate honestly, score live.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
cli_data.register(app)
cli_features.register(app, cli_data.bench_app)
cli_model.register(app, cli_data.bench_app)
cli_serve.register(app, cli_data.bench_app)
cli_lake.register(app)
cli_audit.register(app)
cli_flink.register(app)
cli_feed.register(app)

_state = {"debug": False}


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details to stderr."),
) -> None:
    _state["debug"] = debug
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


def main() -> None:
    """Console-script entry point: run the app, turning errors into one clear line."""
    try:
        app(standalone_mode=False)
    except SystemExit as e:
        raise e
    except (typer.Abort, KeyboardInterrupt):
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except Exception as err:  # the CLI edge: report and exit non-zero, never swallow
        import click

        # typer raises its own copy of click's exceptions (typer._click), a TyperException, not click's class
        if isinstance(err, click.exceptions.ClickException | typer.TyperException) and hasattr(err, "show"):
            err.show()
            sys.exit(getattr(err, "exit_code", 2))
        if _state["debug"] or "--debug" in sys.argv:
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
