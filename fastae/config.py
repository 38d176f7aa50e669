"""Tunables of fastae, with their defaults in one place.

Importing :mod:`fastae` imports this module first, so that the thread environment
below is in place before numba starts its thread pool. A value the user has already
set in the environment is never overridden.
"""
import os

#: Environment for fastae's thread design (README, "Threads"): BLAS's threads run the
#: matrix products, and fastae's elementwise kernels run on the calling thread between
#: them. ``OPENBLAS_THREAD_TIMEOUT`` sets how long OpenBLAS's idle workers spin before
#: they sleep: 2^20 time-stamp-counter cycles (0.4 ms at 2.6 GHz) instead of OpenBLAS's
#: 2^28 (0.1 s). That keeps them awake across the kernels between one step's products,
#: so that each product does not first wake them (with 2^4, layer-2 and fine-tuning
#: epochs were 5-12 % slower: README, "Threads"), and asleep soon after a loop returns.
#: It takes effect if scipy's BLAS loads after ``import fastae`` (OpenBLAS reads it then).
THREAD_ENV = {
    "OPENBLAS_THREAD_TIMEOUT": "20",
}

for _name, _value in THREAD_ENV.items():
    os.environ.setdefault(_name, _value)

#: Seeds are integers in ``0..MAX_SEED`` (what a 64-bit signed integer holds), at the API
#: and on the command line; recipes derive each stage's seed with ``checks.stage_seed``.
MAX_SEED = 2**63 - 1

#: rho_hat is clipped to [KL_EPS, 1 - KL_EPS] inside the KL sparsity term.
KL_EPS = 1e-6

#: Threads of fastae's own (elementwise) kernels. 1 keeps them on the calling thread,
#: which measured fastest on a 2-core machine, where numba's pool and BLAS's pool
#: would take turns on the same cores. More splits a batch's rows across numba threads.
KERNEL_THREADS = 1

#: A tied autoencoder's training step on a dense input with at most PARTS_MAX_HIDDEN
#: hidden units (Q3's layer 2) runs in row parts, one thread each, with BLAS on one
#: thread (``backends.cpu_parts``): BLAS's own threads ran such small products at about
#: 75 % of the machine's peak, and the kernels between them on one core. The batch
#: gives each part at least PARTS_MIN_ROWS rows, and the step at least PARTS_MIN_WORK
#: multiply-adds a product (batch x visible x hidden); False turns the parts off. The
#: step in parts saves about a seventh of a layer-2 epoch but compiles for about 7 s more,
#: once per cache: a training call of fewer than PARTS_MIN_CALL_WORK multiply-adds a
#: product (patterns x visible x hidden, over the call's epochs: 3.4e9 for an epoch of
#: Q3's layer 2, about 0.3 s; 3.8e8 for one of ``run q3 --quick``) runs its steps whole.
STEP_PARTS = True
PARTS_MAX_HIDDEN = 256
PARTS_MIN_ROWS = 32
PARTS_MIN_WORK = 1_000_000
PARTS_MIN_CALL_WORK = 1_000_000_000

#: A stacked classifier's training step runs in parts too (``backends.cpu_classifier_parts``:
#: the batch's rows, then the parameters, one part a thread, BLAS on one thread), in a
#: training call of at least CLASSIFIER_PARTS_MIN_CALL_WORK multiply-adds a product
#: (patterns x the weights' sizes, over the call's epochs: 3.0e10 for an epoch of Q3's
#: fine-tuning, 3.3e9 for one of ``run q3 --quick``), batches of at least two parts of
#: PARTS_MIN_ROWS rows and PARTS_MIN_WORK multiply-adds a step; STEP_PARTS False turns
#: them off as well.
CLASSIFIER_PARTS_MIN_CALL_WORK = 10_000_000_000

#: The passes over a data set outside training (the autoencoder's ``loss``, the
#: classifier's layers, hence ``accuracy`` and ``predict``) run in row parts, one thread
#: each, with BLAS on one thread, when they take at least EVAL_PARTS_MIN_WORK
#: multiply-adds (rows x the weights' sizes: 2.5e9 for Q3's layer-1 validation loss);
#: each part runs the one-piece pass's compiled loop on its rows, so nothing more
#: compiles. STEP_PARTS False turns them off as well.
EVAL_PARTS_MIN_WORK = 100_000_000

#: With KERNEL_THREADS > 1, batches smaller than this many elements (rows x columns)
#: still run on the calling thread: waking a thread pool costs more than the work.
PARALLEL_MIN_ELEMENTS = 16384

#: The training loops split a sparse input (such as MNIST) into a dense prefix, which
#: BLAS multiplies, and a sparse tail, added nonzero by nonzero: the columns nonzero in
#: fewer than SPLIT_TAIL_DENSITY of the rows form the tail (README, Speed, "Sparse
#: inputs"). 0 turns the split off.
SPLIT_TAIL_DENSITY = 0.1

#: Rows the split counts nonzeros on (spread over the data set)...
SPLIT_SAMPLE_ROWS = 4096
#: ...in runs of this many consecutive rows: a fault can map 2 MiB of a memory-mapped
#: file (see ``mapped``), and 64 runs of 64 rows touch at most 128 such blocks, where
#: 4,096 rows apart can touch 4,096 of them (8 GiB).
SPLIT_SAMPLE_RUN = 64

#: The split is made only when its sparse tail holds at least this share of the columns
#: (fewer would save less than the split costs).
SPLIT_MIN_TAIL = 0.125

#: Rows of bytes or of a mapped file that the losses, the encodings and the classifier's
#: forward pass read from the host at a time, outside training.
EVAL_CHUNK = 4096

#: A training call's evaluation sets of bytes (``StackedClassifier.fit``'s ``eval_sets``)
#: are scaled to floats once for the whole call when their floats take at most this many
#: bytes (MNIST's 10,000 test images: 31 MB), and read ``EVAL_CHUNK`` rows at a time after
#: every epoch otherwise.
EVAL_FLOATS_MAX = 2**26

#: Rows the compiled passes over a data set (the autoencoder's loss, the classifier's
#: layers) take at a time, so that their buffers stay in the caches: the classifier's
#: forward pass over 4,096 MNIST images (split as in training) took 44 ms in blocks of
#: 4,096 rows and 19 ms in blocks of 256.
EVAL_BLOCK = 256

#: A compiled training call takes the orders of its epochs at once (8 bytes a pattern and
#: an epoch); by default it takes no more epochs than fit in this many bytes (at least one).
ORDER_CHUNK_BYTES = 64 << 20

#: The training loops read Ctrl-C's flag before their first batch and then every this
#: many batches (a device may queue that many at once): at Q3's sizes 16 batches take
#: well under a second on either device, so Ctrl-C still stops at once.
STOP_CHECK_BATCHES = 16

#: numba compiles with IEEE-exact math; the gradient checks rely on it.
FASTMATH = False

#: CUDA launch settings. Elementwise kernels run grid-stride loops with this many threads
#: per block (a power of two: block sums halve it), on at most CUDA_MAX_BLOCKS blocks.
CUDA_THREADS_PER_BLOCK = 128
CUDA_MAX_BLOCKS = 1024

#: The tiled GEMM: (threads in y, threads in x, rows and columns of C per thread, depth of
#: a shared-memory slice): a 16 x 16 block computes a 64 x 64 tile of C, 16 deep at a time.
CUDA_GEMM_TILE = (16, 16, 4, 4, 16)

#: A loop's first compile runs beside a helper process that compiles the loop's kernels
#: from the other end of their list (``backends.compile_ahead``), on a machine with two
#: cores or more. False compiles everything in the calling process.
COMPILE_AHEAD = True

#: Runs (``fastae run``, ``fastae train``) hand their figures to a second Python process,
#: which draws them while the run goes on (``fastae.plots.painter``); the run's own process
#: imports matplotlib only to help with the last few. False draws every figure in the
#: run's own process.
FIGURE_PROCESS = True
