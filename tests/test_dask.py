"""Scaling out on Dask: a model pickled to two worker processes encodes a dask array's
chunks, and the scikit-learn estimators run a grid search under joblib's Dask backend,
with the results of one process. Needs the ``dask`` extra (dask[array], distributed)."""
import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
pytest.importorskip("sklearn")

from joblib import parallel_backend  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402

from fastae import Autoencoder  # noqa: E402
from fastae.sklearn import DenoisingAutoencoder  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            yield client


def test_two_worker_processes_encode_dask_chunks_as_one_process(client):
    rng = np.random.default_rng(0)
    X = (rng.random((400, 16)) * 255).astype(np.uint8)
    model = Autoencoder(16, 6, corruption=0.1, seed=1)
    model.fit(X, 2, 0.1, batch_size=32)
    D = da.from_array(X, chunks=(100, 16))
    codes = D.map_blocks(model.encode, dtype=np.float32, chunks=(100, 6))
    on_cluster = codes.compute()
    assert len(client.scheduler_info()["workers"]) == 2
    workers = {w for w in client.run(lambda: __import__("os").getpid()).values()}
    assert len(workers) == 2  # two processes, not threads of this one
    np.testing.assert_array_equal(on_cluster, codes.compute(scheduler="synchronous"))
    np.testing.assert_allclose(on_cluster, model.encode(X), rtol=1e-6, atol=1e-7)


def test_grid_search_under_joblib_dask_backend_scores_as_one_process(client):
    rng = np.random.default_rng(1)
    X = rng.random((120, 12))
    y = (X[:, :6].sum(axis=1) > X[:, 6:].sum(axis=1)).astype(int)
    model = Pipeline([("dae", DenoisingAutoencoder(hidden_layer_sizes=(6,), max_iter=3, random_state=0)),
                      ("logistic", LogisticRegression(max_iter=200))])
    grid = {"dae__corruption": [0.1, 0.3]}
    with parallel_backend("dask"):
        on_cluster = GridSearchCV(model, grid, cv=2, n_jobs=-1).fit(X, y)
    local = GridSearchCV(model, grid, cv=2, n_jobs=1).fit(X, y)
    for key in ("mean_test_score", "split0_test_score", "split1_test_score"):
        np.testing.assert_array_equal(on_cluster.cv_results_[key], local.cv_results_[key])
    assert on_cluster.best_params_ == local.best_params_
