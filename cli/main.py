"""The ``fastae`` command line: a thin click layer over :mod:`fastae.experiments`.

Heavy imports (numba, matplotlib) happen inside the commands, so ``fastae --help`` is
instant. Errors in what the user typed become one ``Error:`` line and exit code 2;
problems found while running (bad data, unwritable directories) exit with code 1.
"""
import functools
import sys

import click


def _fail_cleanly(func):
    """Turn the library's ValueErrors into click errors: one line, no traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except click.ClickException:
            raise
        except ValueError as e:
            raise click.ClickException(str(e)) from None
        except OSError as e:
            raise click.ClickException(f"{e.filename or ''}: {e.strerror or e}".lstrip(": ")) from None

    return wrapper


def _echo(quiet):
    return (lambda message: None) if quiet else click.echo


def out_option(default):
    return click.option(
        "--out",
        type=click.Path(file_okay=False, writable=True),
        default=default,
        show_default=True,
        help="Run directory for figures, models and metrics.json.",
    )


seed_option = click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Random seed.")
quiet_option = click.option("--quiet", is_flag=True, help="Print nothing but errors.")


def lr_option(default):
    return click.option(
        "--lr", type=click.FloatRange(min=0, min_open=True), default=default, show_default=True, help="Learning rate."
    )


def epochs_option(default, help="Training epochs."):
    return click.option("--epochs", type=click.IntRange(min=1), default=default, show_default=True, help=help)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fastae")
def cli():
    """fastae: classic autoencoders from scratch, compiled with Numba.

    Reproduce the tutorial's exercises with `fastae run q1` (and q2, q3).
    """


@cli.group()
def run():
    """Run one of the tutorial's exercises and write its figures and metrics."""


@run.command("q1")
@epochs_option(5000, help="Gradient-descent iterations (full batch) for each of the two runs.")
@lr_option(0.1)
@seed_option
@out_option("runs/q1")
@quiet_option
@_fail_cleanly
def run_q1(epochs, lr, seed, out, quiet):
    """Q1: a 9-4-9 autoencoder on five 3x3 patterns, plain and sparse (rho 0.1, beta 0.5)."""
    from fastae.experiments import q1

    q1.run(q1.Q1Config(epochs=epochs, lr=lr, seed=seed), out=out, echo=_echo(quiet))


@run.command("q2")
@epochs_option(1000, help="Epochs of mini-batch SGD for each of the three models.")
@lr_option(0.2)
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True, help="Mini-batch size.")
@seed_option
@click.option("--data-seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the random images.")
@out_option("runs/q2")
@quiet_option
@_fail_cleanly
def run_q2(epochs, lr, batch_size, seed, data_seed, out, quiet):
    """Q2: undercomplete (49), overcomplete (144) and sparse (144) autoencoders on 100 random 10x10 images."""
    from fastae.experiments import q2

    cfg = q2.Q2Config(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, data_seed=data_seed)
    q2.run(cfg, out=out, echo=_echo(quiet))


def main():
    cli(prog_name="fastae")


if __name__ == "__main__":
    sys.exit(main())
