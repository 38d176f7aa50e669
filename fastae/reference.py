"""Reference values published with the tutorial, to set beside a run's own.

Tutorial 10 (CE/CZ4042, "Autoencoders"), exercise 1 lists, for its trained 9-4-9
autoencoder on the five 3x3 patterns, the hidden activations ``h`` and the outputs ``y``
of every pattern, once without and once with the sparsity penalty (``beta = 0.5``,
``rho = 0.1``). They are transcribed here as printed there (two decimals, ``0.0`` kept
as ``0.0``): ``h`` has the 4 hidden units, ``y`` the 9 outputs row by row, in the order
of :func:`fastae.datasets.q1_patterns`.

The hidden units of an autoencoder are unordered (any permutation of them gives the same
network), so our ``h`` need not match the tutorial's column by column; ``y`` should be
close to the pattern, and so to the tutorial's ``y``.
"""

#: Trained ``h`` (4 values) and ``y`` (9 values, row by row) of the tutorial's Q1 models,
#: for the patterns ``x1 .. x5``.
TUTORIAL_Q1 = {
    "plain": {
        "h": [
            [1.00, 0.01, 0.00, 0.00],
            [0.0, 0.99, 0.0, 0.99],
            [0.08, 1.0, 1.0, 0.0],
            [0.85, 0.0, 0.99, 1.0],
            [0.0, 0.0, 0.0, 1.0],
        ],
        "y": [
            [0.99, 0.96, 0.96, 0.02, 0.03, 0.0, 0.03, 0.01, 0.03],
            [0.98, 0.0, 0.01, 0.98, 0.02, 0.0, 1.0, 0.06, 0.04],
            [0.03, 0.0, 0.97, 0.02, 0.98, 0.0, 0.99, 0.0, 0.0],
            [0.99, 0.02, 0.03, 0.01, 0.97, 0.0, 0.02, 0.02, 0.99],
            [1.0, 0.01, 0.0, 0.97, 0.02, 0.01, 0.95, 0.91, 0.96],
        ],
    },
    "sparse": {
        "h": [
            [1.00, 0.03, 0.07, 0.00],
            [0.0, 0.65, 0.0, 0.0],
            [0.11, 1.0, 1.0, 0.0],
            [0.0, 0.0, 0.52, 1.0],
            [0.0, 0.0, 0.0, 0.0],
        ],
        "y": [
            [1.0, 0.95, 0.94, 0.04, 0.0, 0.0, 0.04, 0.05, 0.05],
            [0.92, 0.01, 0.1, 0.94, 0.07, 0.0, 0.99, 0.12, 0.09],
            [0.06, 0.0, 0.95, 0.03, 0.96, 0.0, 0.99, 0.0, 0.0],
            [0.98, 0.0, 0.0, 0.03, 0.96, 0.0, 0.03, 0.04, 0.99],
            [0.99, 0.05, 0.03, 0.94, 0.02, 0.01, 0.92, 0.76, 0.83],
        ],
    },
}
