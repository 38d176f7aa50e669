"""Exercise Q1 as a plain NumPy loop: the reference that fastae's compiled loop is timed against.

Same model, same initial weights and same result as ``fastae.Autoencoder(9, 4)`` trained
full-batch with ``fit``; only the loop runs in Python, one NumPy call per operation.
"""
import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def train(W, b, c, X, iterations, lr, rho=0.0, beta=0.0):
    """Full-batch gradient descent on cross-entropy (+ beta KL), in place; returns the losses."""
    P = X.shape[0]
    losses = np.empty(iterations)
    for it in range(iterations):
        H = sigmoid(X @ W + b)
        Z = H @ W.T + c
        Y = sigmoid(Z)
        losses[it] = (np.maximum(Z, 0) - X * Z + np.log1p(np.exp(-np.abs(Z)))).sum() / P
        dY = (Y - X) / P
        g = 0.0
        if beta > 0:
            q = np.clip(H.mean(axis=0), 1e-6, 1 - 1e-6)
            losses[it] += beta * (rho * np.log(rho / q) + (1 - rho) * np.log((1 - rho) / (1 - q))).sum()
            g = beta / P * (-rho / q + (1 - rho) / (1 - q))
        dH = (dY @ W + g) * H * (1 - H)
        W -= lr * (X.T @ dH + dY.T @ H)
        b -= lr * dH.sum(axis=0)
        c -= lr * dY.sum(axis=0)
    return losses
