"""What both epoch loops share: a batch's rows, where an epoch starts, and when a loop
stops (the Ctrl-C and batch-limit cursor of ``fastae.stopping``). Bound to a kernel
namespace ``k`` by ``steps.build``, as the rest of the steps."""
import numpy as np  # noqa: F401  (numba resolves np in the compiled source)

from ..config import STOP_CHECK_BATCHES


def batch_rows(orders, e, start, stop):
    """The rows ``start .. stop`` of epoch ``e``'s order: a batch's patterns."""
    return orders[e, start:stop]


def epoch_rows(sums, cursor, e, n, batch_size):
    """The first rows of epoch ``e``'s batches; its sums start from the interrupted
    epoch's (``e == 0``) or from zero."""
    if e == 0:
        k.set_sums(sums, cursor.partial[0], cursor.partial[1])  # noqa: F821
        return range(cursor.at[1], n, batch_size)
    k.set_sums(sums, 0.0, 0.0)  # noqa: F821
    return range(0, n, batch_size)


def stop_before(cursor, e, row, sums, run):
    """True, with ``cursor`` at epoch ``e``, ``row`` and the epoch's ``sums`` so far, once
    the batch limit is reached, or on Ctrl-C when the loop has run a multiple of
    ``STOP_CHECK_BATCHES`` batches (``run``; a device may then queue that many batches
    at once); otherwise counts one more batch."""
    if (run % STOP_CHECK_BATCHES == 0 and cursor.stop[0] != 0) or cursor.stop[1] <= 0:
        stopped(cursor, e, row, k.get_sums(sums))  # noqa: F821
        return True
    cursor.stop[1] -= 1
    return False


def stopped(cursor, e, row, sums):
    cursor.at[0], cursor.at[1] = e, row
    cursor.partial[0], cursor.partial[1] = sums[0], sums[1]
