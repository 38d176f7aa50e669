"""One training step, one epoch loop, one chunked loss: written once, for every device.

The steps (``steps_ae.py``, ``steps_classifier.py`` and what their loops share,
``steps_batches.py``) call a kernel namespace ``k`` (``cpu_kernels`` or ``cuda_kernels``:
the same names, the same arguments) and never test which device they run on.
:func:`build` binds them to one namespace: the CPU compiles the result with numba (an
epoch is one compiled, cached, ``nogil`` call), the GPU runs the same source as Python
over its kernel launchers. The step's few composites (``COMPOSITES``: the forward pass,
the output delta, backpropagation, the update) are written there over the finer kernels; a
namespace that defines one of their names supplies it instead (the GPU's fused kernels).

Conventions: one pattern per row; the tied autoencoder's ``W`` is ``n_visible x
n_hidden``; a batch's loss sums (over patterns) accumulate in ``ws.sums`` on the device,
read once an epoch; ``n_blocks`` is the CPU's thread count for elementwise kernels (the
GPU takes it and ignores it).
"""
import types

from . import steps_ae, steps_batches, steps_classifier
from .steps_ae import ae_backprop, ae_batches, ae_bias_grads, ae_epochs, ae_forward, ae_grads, ae_loss
from .steps_ae import ae_output_delta, ae_step, block_loss, tied_step
from .steps_batches import batch_rows, epoch_rows, stop_before, stopped
from .steps_classifier import backprop, block_layers, classifier_batches, classifier_epochs, classifier_grads
from .steps_classifier import classifier_step, forward, layer_delta, layer_step, layers, softmax_delta, update

STEPS = (ae_step, ae_forward, ae_output_delta, ae_backprop, ae_bias_grads, tied_step, epoch_rows, stop_before,
         stopped, batch_rows, ae_batches, ae_epochs, ae_grads, block_loss, ae_loss, forward, classifier_step,
         layer_delta, softmax_delta, backprop, layer_step, update, classifier_batches, classifier_epochs,
         classifier_grads, block_layers, layers)

#: Compositions of finer kernels that a kernel namespace may supply itself, under the same
#: name and with the same arguments (the CUDA backend's are fused kernels: fewer
#: launches, no views of its buffers); where it does not, these are used.
COMPOSITES = (ae_forward, ae_output_delta, ae_backprop, tied_step, batch_rows, forward, softmax_delta, backprop,
              layer_step)

#: What a compiling build inlines where it is called: the helpers of a few lines, and the
#: steps and batch loops under each entry point. numba re-optimises a called function's
#: code inside every compiled caller, so each level of calls between an entry point and
#: its kernels costs seconds of compile time (about 1 s less for a first fit).
INLINE = (ae_forward, ae_output_delta, ae_backprop, ae_bias_grads, tied_step, epoch_rows, stop_before, stopped,
          batch_rows, layer_delta, softmax_delta, backprop, layer_step, ae_batches, classifier_batches, ae_step,
          classifier_step, forward, update, block_layers, block_loss)


#: The modules whose names the steps see (each function's globals in a build).
_MODULES = (steps_batches, steps_ae, steps_classifier)


def build(kernels, jit=None):
    """The functions of ``STEPS`` bound to the kernel namespace ``kernels`` (as ``k``), each
    wrapped by ``jit(fn, inline)`` when given (the CPU's compiles it with numba, inlining
    the helpers in ``INLINE``); a function of ``COMPOSITES`` that ``kernels`` defines is
    taken from it instead. Returns a namespace of them by name. Each function calls the
    others of the same build."""
    scope = {name: value for module in _MODULES for name, value in vars(module).items()}
    scope["k"] = kernels
    built = {}
    for f in STEPS:
        if f in COMPOSITES and hasattr(kernels, f.__name__):
            scope[f.__name__] = built[f.__name__] = getattr(kernels, f.__name__)
            continue
        fn = types.FunctionType(f.__code__, scope, f.__name__, f.__defaults__)
        fn.__qualname__, fn.__doc__, fn.__module__ = f.__qualname__, f.__doc__, f.__module__
        scope[f.__name__] = built[f.__name__] = fn if jit is None else jit(fn, f in INLINE)
    return types.SimpleNamespace(**built)
