"""Tunables of fastae, with their defaults in one place.

Importing :mod:`fastae` imports this module first, so that the thread environment
below is in place before numba starts its thread pool. A value the user has already
set in the environment is never overridden.
"""
import os

#: Environment fastae needs for one quiet thread pool (see README, "Threads").
#: ``GOMP_SPINCOUNT`` lets numba's OpenMP workers spin briefly between the many
#: short parallel regions of a training step (waking a sleeping thread costs about
#: 50 us here) and then sleep, so that they never compete with the BLAS threads
#: that run the matrix products in between.
THREAD_ENV = {
    "GOMP_SPINCOUNT": "20000",
}

for _name, _value in THREAD_ENV.items():
    os.environ.setdefault(_name, _value)

#: rho_hat is clipped to [KL_EPS, 1 - KL_EPS] inside the KL sparsity term.
KL_EPS = 1e-6

#: Below this many elements per batch (rows x columns of the input), kernels run on
#: the calling thread: waking a thread pool costs more than the work.
PARALLEL_MIN_ELEMENTS = 16384

#: numba compiles with IEEE-exact math; the gradient checks rely on it.
FASTMATH = False
