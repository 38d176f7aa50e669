"""Options and error handling shared by every ``fastae`` command (one place, as in
rasterio's ``rio/options.py``)."""
import functools
import math
import os
import sys

import click

from fastae.config import MAX_SEED  # importing fastae.config loads neither numpy nor numba


class FiniteFloatRange(click.FloatRange):
    """A FloatRange that also refuses NaN and infinity (which compare False with any bound)."""

    def convert(self, value, param, ctx):
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return rv


#: Exit status after Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130


def fail_cleanly(func):
    """Turn the library's ValueErrors into click errors: one line, no traceback; Ctrl-C
    into its message (where a checkpoint was saved) and exit status 130."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except click.ClickException:
            raise
        except KeyboardInterrupt as e:
            click.echo(f"\n{e}" if str(e) else "\nInterrupted.", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except ValueError as e:
            raise click.ClickException(str(e)) from None
        except OSError as e:
            raise click.ClickException(f"{e.filename or ''}: {e.strerror or e}".lstrip(": ")) from None

    return wrapper


def echo_for(quiet):
    """Where a command's messages go: the terminal, or nowhere with ``--quiet``. On a
    terminal, the library's notices (such as "compiling fastae's kernels") show too."""
    if not quiet and sys.stderr.isatty():
        import logging

        log = logging.getLogger("fastae")
        if not log.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(message)s"))
            log.addHandler(handler)
        log.setLevel(logging.INFO)
    return (lambda message: None) if quiet else say


def say(message):
    """``click.echo`` to standard output for the messages of a run. Off a terminal (a
    file, a pipe), blank lines are left out. A reader that goes away (``fastae run q1 |
    head -2``) ends the messages, never the run: the rest of the output goes to
    ``os.devnull`` and every file is still written."""
    text = str(message)
    if not sys.stdout.isatty():
        text = "\n".join(line for line in text.split("\n") if line.strip())
        if not text:
            return
    try:
        click.echo(text)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # also for Python's own flush at exit
        os.close(devnull)


def out_option(default):
    return click.option(
        "--out",
        type=click.Path(file_okay=False, writable=True),
        default=default,
        show_default=True,
        help="Run directory for figures, models and metrics.json.",
    )


seed_option = click.option(
    "--seed", type=click.IntRange(0, MAX_SEED), default=0, show_default=True, help="Random seed."
)
quiet_option = click.option("--quiet", is_flag=True, help="Print nothing but errors.")
device_option = click.option(
    "--device",
    type=click.Choice(["cpu", "cuda"]),
    default="cpu",
    show_default=True,
    help="Where to compute: cuda needs an NVIDIA GPU and pip install 'fastae[cuda]'.",
)
data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Directory with the four MNIST files [default: $FASTAE_DATA, then the user cache].",
)


def lr_option(default):
    return click.option(
        "--lr", type=FiniteFloatRange(min=0, min_open=True), default=default, show_default=True,
        help="Learning rate.",
    )


def epochs_option(default, help="Training epochs."):
    return click.option("--epochs", type=click.IntRange(min=1), default=default, show_default=True, help=help)
