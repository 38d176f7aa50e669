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


#: The largest float32: the training computes in float32, where a larger rate is infinite.
FLOAT32_MAX = 3.4028234663852886e38


def rate_type():
    """A learning rate: a finite number > 0 that float32 holds."""
    return FiniteFloatRange(min=0, min_open=True, max=FLOAT32_MAX)


#: Exit status after Ctrl-C (128 + SIGINT), as shells report it (after SIGTERM: 143).
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
            sys.exit(128 + getattr(e, "signum", EXIT_INTERRUPTED - 128))
        except ValueError as e:
            raise click.ClickException(str(e)) from None
        except MemoryError:
            raise click.ClickException("not enough memory for this run: use smaller layers or less data") from None
        except OSError as e:
            raise click.ClickException(f"{e.filename or ''}: {e.strerror or e}".lstrip(": ")) from None

    return wrapper


def start_painter():
    """Start the process that draws the run's figures (``fastae.plots.painter``) before the
    run imports numba: it imports matplotlib meanwhile, on the other core."""
    from fastae.plots import painter

    painter.shared()


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


def nonempty_path(ctx, param, value):
    """An empty ``--out`` would write into the current directory (or nowhere): refuse it."""
    if value is not None and not str(value).strip():
        raise click.BadParameter("give a directory name ('.' for the current directory).", ctx, param)
    return value


def out_option(default):
    return click.option(
        "--out",
        type=click.Path(file_okay=False, writable=True),
        default=default,
        show_default=True,
        callback=nonempty_path,
        help="Run directory for figures, models, metrics.json and run.json. Files there that no fastae run "
        "wrote are replaced only with --overwrite.",
    )


seed_option = click.option(
    "--seed", type=click.IntRange(0, MAX_SEED), default=0, show_default=True, help="Random seed."
)
quiet_option = click.option("--quiet", is_flag=True, help="Print nothing but errors.")
overwrite_option = click.option(
    "--overwrite", is_flag=True,
    help="Replace files in --out that no fastae run wrote (without it such files are never replaced; the "
    "outputs of an earlier fastae run there always are).",
)
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
        "--lr", type=rate_type(), default=default, show_default=True,
        help="Learning rate.",
    )


def epochs_option(default, help="Training epochs."):
    return click.option("--epochs", type=click.IntRange(min=1), default=default, show_default=True, help=help)
