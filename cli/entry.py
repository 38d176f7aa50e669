"""The ``fastae`` console script: Ctrl-C is one line and exit status 130 from the first
moment (while Python imports the application) to the last (while the process ends).

Only the console script imports this module, so importing :mod:`fastae_cli.main` (as the
tests do) leaves the process's signal handlers alone.
"""
import gc
import signal
import sys

EXIT_INTERRUPTED = 130


def _interrupted(signum, frame):
    sys.stderr.write("\nInterrupted.\n")
    sys.exit(EXIT_INTERRUPTED)


signal.signal(signal.SIGINT, _interrupted)  # until main() runs: the imports below take a moment


def main():
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # the commands handle KeyboardInterrupt
        from .main import main as run

        run()
    except KeyboardInterrupt:
        sys.stderr.write("\nInterrupted.\n")
        sys.exit(EXIT_INTERRUPTED)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the work is done or stopped: nothing left to interrupt
        # Every object alive now lives until the process ends: spare Python's last garbage
        # collections the walk over them (numba's compiled functions, matplotlib's artists),
        # 0.05-0.1 s of a warm run's exit.
        gc.freeze()


if __name__ == "__main__":
    main()
