"""Training on the user's own data: the loaders, ``fastae train``, ``encode`` and ``reconstruct``."""
import gzip
import json
import struct

import numpy as np
import pytest
from click.testing import CliRunner
from fastae_cli.data_commands import encode, reconstruct, train
from fastae_cli.main import cli

from fastae import Autoencoder
from fastae.experiments import stack
from fastae.experiments import train as recipe
from fastae.userdata import DataError, load_array


@pytest.fixture(scope="module")
def group():
    """The ``fastae`` group, which holds the commands."""
    return cli


def invoke(group, *args):
    return CliRunner().invoke(group, [str(a) for a in args], catch_exceptions=False)


def assert_one_line_error(result, code):
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert len([line for line in result.output.splitlines() if line.startswith("Error:")]) == 1, result.output


def idx_bytes(array):
    array = np.asarray(array, dtype=np.uint8)
    return struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


# ---------------------------------------------------------------------- loaders


def test_npy(tmp_path, rng):
    X = rng.random((5, 3))
    np.save(tmp_path / "x.npy", X)
    Y = load_array(tmp_path / "x.npy")
    assert Y.dtype == np.float64 and np.array_equal(Y, X)
    np.save(tmp_path / "i.npy", np.arange(6, dtype=np.uint8).reshape(2, 3))
    Y = load_array(str(tmp_path / "i.npy"))
    assert Y.dtype == np.float32 and Y.tolist() == [[0, 1, 2], [3, 4, 5]]  # only IDX bytes are scaled
    np.save(tmp_path / "img.npy", rng.random((4, 2, 3)).astype(np.float32))
    assert load_array(tmp_path / "img.npy").shape == (4, 6)  # images flattened to rows
    np.save(tmp_path / "f.npy", np.asfortranarray(X))
    assert np.array_equal(load_array(tmp_path / "f.npy"), X)


def test_npz_single_and_several(tmp_path, rng):
    X, Z = rng.random((4, 3)), rng.random((2, 5))
    np.savez(tmp_path / "one.npz", data=X)
    assert np.array_equal(load_array(tmp_path / "one.npz"), X)
    np.savez_compressed(tmp_path / "two.npz", train=X, test=Z)
    assert np.array_equal(load_array(tmp_path / "two.npz", key="test"), Z)
    with pytest.raises(DataError, match=r"two\.npz.*2 arrays \(test, train\).*--key"):
        load_array(tmp_path / "two.npz")
    with pytest.raises(DataError, match=r"no array named 'valid'; its arrays: test, train"):
        load_array(tmp_path / "two.npz", key="valid")
    np.savez(tmp_path / "none.npz")
    with pytest.raises(DataError, match="no arrays"):
        load_array(tmp_path / "none.npz")


def test_csv_with_and_without_header(tmp_path):
    (tmp_path / "plain.csv").write_text("0.1,0.2,0.3\n0.4, 0.5 ,0.6\n")
    np.testing.assert_allclose(load_array(tmp_path / "plain.csv"), [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
    (tmp_path / "head.csv").write_text("a,b,c\r\n1,2,3\r\n\r\n4,5,6\r\n")
    assert load_array(tmp_path / "head.csv").tolist() == [[1, 2, 3], [4, 5, 6]]
    (tmp_path / "col.csv").write_text("x\n1\n2\n3\n")
    assert load_array(tmp_path / "col.csv").shape == (3, 1)
    (tmp_path / "row.csv").write_text("1,2,3,4\n")
    assert load_array(tmp_path / "row.csv").shape == (1, 4)


def test_whitespace_csv(tmp_path):
    (tmp_path / "ws.txt").write_text("1 2\t3\n\n  4   5 6  \n7 8 9")
    assert load_array(tmp_path / "ws.txt").tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    (tmp_path / "data").write_text("x y\n1e-1 2.5e-1\n")  # no suffix: recognised as text
    np.testing.assert_allclose(load_array(tmp_path / "data"), [[0.1, 0.25]])


@pytest.mark.parametrize("gz", [False, True])
def test_idx(tmp_path, gz):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4) * 10
    raw = idx_bytes(images)
    path = tmp_path / ("images-idx3-ubyte" + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(raw) if gz else raw)
    X = load_array(path)
    assert X.shape == (2, 12) and X.dtype == np.float32
    np.testing.assert_allclose(X, images.reshape(2, 12) / 255.0, rtol=1e-6)
    sniffed = tmp_path / "noext"
    sniffed.write_bytes(raw)  # recognised by its header
    assert load_array(sniffed).shape == (2, 12)


def _bad_files(tmp_path):
    """(file name, content, part of the message) for damaged files of every kind."""
    rng = np.random.default_rng(0)
    junk = rng.integers(0, 256, 300, dtype=np.uint8).tobytes()
    good_npy = tmp_path / "good.npy"
    np.save(good_npy, rng.random((10, 10)))
    npy = good_npy.read_bytes()
    np.savez(tmp_path / "good.npz", a=rng.random((10, 10)))
    npz = (tmp_path / "good.npz").read_bytes()
    one_d, nan, obj, cplx = (tmp_path / f"{n}.npy" for n in ("one_d", "nan", "obj", "cplx"))
    np.save(one_d, np.arange(5.0))
    np.save(nan, np.array([[0.0, np.nan]]))
    np.save(obj, np.array([[1, "a"]], dtype=object), allow_pickle=True)
    np.save(cplx, np.ones((2, 2), dtype=complex))
    return [
        ("empty.csv", b"", "empty"),
        ("empty.npy", b"", "empty"),
        ("junk.npy", junk, "npy"),
        ("junk.npz", junk, "npz"),
        ("junk.csv", junk, "not a text file"),
        ("junk.gz", b"\x1f\x8b" + junk, "gzip"),
        ("junk-idx3-ubyte", junk, "magic"),
        ("junk", b"\x00" + junk, "NUL"),
        ("cut.npy", npy[: len(npy) // 2], "truncated"),
        ("cuthead.npy", npy[:30], "header"),
        ("cut.npz", npz[: len(npz) // 2], "npz"),
        ("one_d.npy", one_d.read_bytes(), "1-D"),
        ("nan.npy", nan.read_bytes(), "NaN"),
        ("obj.npy", obj.read_bytes(), "objects"),
        ("cplx.npy", cplx.read_bytes(), "real numbers"),
        ("ragged.csv", b"1,2,3\n4,5\n", "line 2 has 2 values"),
        ("words.csv", b"a,b\n1,2\n3,x\n", "line 3, value 2 is not a number: 'x'"),
        ("gap.csv", b"1,,2\n", "line 1, value 2 is empty"),
        ("inf.csv", b"1 2\n3 inf\n", "line 2, value 2"),
        ("half.csv", b"1,a\n2,3\n", "line 1, value 2"),
        ("header_only.csv", b"a,b,c\n", "no rows"),
        ("blank.csv", b"\n \n\t\n", "no numbers"),
        ("labels-idx1-ubyte", idx_bytes(np.arange(7)), "1-D"),
        ("cut-idx3-ubyte", idx_bytes(np.ones((3, 2, 2)))[:-3], "truncated"),
        ("cut-idx3-ubyte.gz", gzip.compress(idx_bytes(np.ones((3, 2, 2))))[:-10], "idx3-ubyte.gz"),
    ]


def test_bad_files_give_one_clean_error(tmp_path):
    cases = _bad_files(tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    for name, content, message in cases:
        path = bad / name
        path.write_bytes(content)
        with pytest.raises(DataError) as info:
            load_array(path)
        text = str(info.value)
        assert str(path) in text, (name, text)
        assert message in text, (name, text)
    with pytest.raises(DataError, match="no such file"):
        load_array(bad / "missing.npy")
    with pytest.raises(DataError, match="is a directory"):
        load_array(bad)
    with pytest.raises(DataError, match="--key"):
        load_array(tmp_path / "good.npy", key="a")


# ------------------------------------------------------------------ the commands


@pytest.fixture(scope="module")
def trained(tmp_path_factory, group):
    """A 2-layer stack trained through the command line on tiny random data."""
    tmp = tmp_path_factory.mktemp("train")
    X = np.random.default_rng(3).random((40, 16)).astype(np.float32)
    data = tmp / "x.csv"
    np.savetxt(data, X, delimiter=",", header="," .join(f"p{i}" for i in range(16)), comments="", fmt="%.8f")
    out = tmp / "run"
    result = invoke(group, "train", data, "--hidden", "9,4", "--epochs", "3", "--batch-size", "8",
                    "--corruption", "0.1", "--sparsity", "0.1,0.5", "--out", out)
    assert result.exit_code == 0, result.output
    return tmp, load_array(data), out, result.output


def test_train_writes_every_file(trained):
    _, _, out, output = trained
    expected = {"layer1.npz", "layer1.json", "layer2.npz", "layer2.json", "learning_curves.png",
                "weights_layer1.png", "weights_layer2.png", "metrics.json", "report.html", "run.json"}
    assert {p.name for p in out.iterdir()} == expected
    for name in expected:
        assert (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["hidden"] == [9, 4] and metrics["config"]["sparsity"] == [0.1, 0.5]
    assert metrics["data"]["shape"] == [40, 16] and metrics["data"]["source"].endswith("x.csv")
    assert [layer["n_hidden"] for layer in metrics["layers"]] == [9, 4]
    for layer in metrics["layers"]:
        assert np.isfinite(layer["final_loss"]) and 0 < layer["mean_activation"] < 1 and layer["seconds"] >= 0
        assert len(layer["loss_curve"]) == 3
    assert "numpy" in metrics["environment"]
    assert "16 -> 9" in output and "9 -> 4" in output and "final loss" in output
    l1, l2 = Autoencoder.load(out / "layer1"), Autoencoder.load(out / "layer2.npz")
    assert (l1.n_visible, l1.n_hidden, l2.n_visible, l2.n_hidden) == (16, 9, 9, 4)
    assert l2.corruption == 0.1 and l2.sparsity == (0.1, 0.5) and l2.seed == 1


def test_encode_and_reconstruct_match_the_api(trained, group):
    tmp, X, out, _ = trained
    l1, l2 = Autoencoder.load(out / "layer1"), Autoencoder.load(out / "layer2")
    data = tmp / "x.csv"

    result = invoke(group, "encode", out, data, "--out", tmp / "codes.npy")
    assert result.exit_code == 0, result.output
    codes = np.load(tmp / "codes.npy")
    assert codes.shape == (40, 4)
    np.testing.assert_allclose(codes, l2.encode(l1.encode(X)), rtol=1e-6)

    result = invoke(group, "reconstruct", out, data, "--out", tmp / "recon.npy", "--quiet")
    assert result.exit_code == 0 and result.output == ""
    recon = np.load(tmp / "recon.npy")
    assert recon.shape == (40, 16)
    np.testing.assert_allclose(recon, l1.decode(l2.reconstruct(l1.encode(X))), rtol=1e-5)

    single = tmp / "single"
    single.mkdir()
    result = invoke(group, "encode", out / "layer1.json", data, "--out", single / "c1.csv")
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.loadtxt(single / "c1.csv", delimiter=",", ndmin=2), l1.encode(X), rtol=1e-6)
    result = invoke(group, "reconstruct", out / "layer1", data, "--out", single / "r1.npy")
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(single / "r1.npy"), l1.reconstruct(X), rtol=1e-6)
    assert sorted(p.name for p in single.iterdir()) == ["c1.csv", "r1.npy"]  # no temporary files left


def test_encode_errors(trained, group, tmp_path):
    tmp, _, out, _ = trained
    data = tmp / "x.csv"
    wide = tmp_path / "wide.npy"
    np.save(wide, np.zeros((3, 5)))
    result = invoke(group, "encode", out, wide, "--out", tmp_path / "c.npy")
    assert_one_line_error(result, 1)
    assert "5 values per row, the model takes 16" in result.output
    big = tmp_path / "big.npy"
    np.save(big, np.full((3, 16), 2.0))
    assert_one_line_error(invoke(group, "encode", out, big, "--out", tmp_path / "c.npy"), 1)
    empty = tmp_path / "empty_run"
    empty.mkdir()
    result = invoke(group, "encode", empty, data, "--out", tmp_path / "c.npy")
    assert_one_line_error(result, 1)
    assert "not a run directory" in result.output
    assert_one_line_error(invoke(group, "encode", tmp_path / "nothing", data), 2)
    config = json.loads((out / "layer1.json").read_text())
    for damage in ({"dtype": "foo"}, {"n_visible": "many"}, {"kind": "Classifier"}):
        (tmp_path / "odd.npz").write_bytes((out / "layer1.npz").read_bytes())
        (tmp_path / "odd.json").write_text(json.dumps({**config, **damage}))
        assert_one_line_error(invoke(group, "encode", tmp_path / "odd", data, "--out", tmp_path / "c.npy"), 1)
    (tmp_path / "odd.json").write_text("[1, 2]")
    assert_one_line_error(invoke(group, "encode", tmp_path / "odd.json", data, "--out", tmp_path / "c.npy"), 1)
    assert_one_line_error(invoke(group, "encode", out, data, "--out", tmp_path / "c.txt"), 2)
    assert_one_line_error(invoke(group, "reconstruct", out, tmp_path / "missing.npy"), 2)
    assert not list(tmp_path.glob("c.*"))


def test_cross_entropy_needs_unit_interval(tmp_path, group):
    data = tmp_path / "wide_range.npy"
    np.save(data, np.random.default_rng(0).random((10, 4)) * 5)
    result = invoke(group, "train", data, "--hidden", "3", "--epochs", "1", "--out", tmp_path / "run")
    assert_one_line_error(result, 1)
    assert "[0, 1]" in result.output and "--loss mse" in result.output and "divide by the maximum" in result.output
    assert not (tmp_path / "run").exists()  # checked before anything is written
    result = invoke(group, "train", data, "--hidden", "3", "--epochs", "1", "--loss", "mse",
                    "--out", tmp_path / "run", "--quiet")
    assert result.exit_code == 0 and result.output == ""
    assert (tmp_path / "run" / "weights_layer1.png").is_file()  # 4 inputs: 2x2 tiles


def test_train_npz_key_and_bad_inputs(tmp_path, group):
    data = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(data, a=rng.random((6, 5)), b=rng.random((6, 3)))
    result = invoke(group, "train", data, "--out", tmp_path / "run", "--epochs", "1")
    assert_one_line_error(result, 1)
    assert "a, b" in result.output
    result = invoke(group, "train", data, "--key", "b", "--hidden", "2", "--epochs", "2", "--out", tmp_path / "run",
                    "--batch-size", "100")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["data"]["shape"] == [6, 3] and metrics["data"]["source"].endswith("d.npz[b]")
    junk = tmp_path / "junk.csv"
    junk.write_text("1,2\n3,oops\n")
    result = invoke(group, "train", junk, "--out", tmp_path / "run2")
    assert_one_line_error(result, 1)
    assert "line 2" in result.output
    blocker = tmp_path / "file"
    blocker.write_text("")
    good = tmp_path / "good.csv"
    good.write_text("0,1\n1,0\n")
    result = invoke(group, "train", good, "--hidden", "2", "--epochs", "1", "--out", blocker / "sub")
    assert_one_line_error(result, 1)
    assert "--out" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["--hidden", "0"],
        ["--hidden", "64,,8"],
        ["--hidden", "x"],
        ["--sparsity", "0.05"],
        ["--sparsity", "1.5,0.1"],
        ["--sparsity", "0.1,-1"],
        ["--sparsity", "0.1,nan"],
        ["--corruption", "1"],
        ["--corruption", "inf"],
        ["--loss", "hinge"],
        ["--epochs", "0"],
        ["--lr", "nan"],
        ["--lr", "-1"],
        ["--batch-size", "0"],
        ["--seed", str(2**63)],
        ["--device", "tpu"],
        ["--bogus"],
    ],
)
def test_train_bad_options(tmp_path, group, args):
    good = tmp_path / "good.csv"
    good.write_text("0,1\n1,0\n")
    result = invoke(group, "train", good, *args, "--out", tmp_path / "run")
    assert_one_line_error(result, 2)
    assert not (tmp_path / "run").exists()


def test_run_api_takes_a_file_and_checks_its_config(tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((8, 6)))
    metrics = recipe.run(recipe.TrainConfig(hidden=3, epochs=2, batch_size=None), tmp_path / "x.npy", tmp_path / "r")
    assert metrics["layer_sizes"] == [6, 3] and metrics["data"]["source"].endswith("x.npy")
    assert (tmp_path / "r" / "weights_layer1.png").is_file()  # 6 inputs: a heat map of W
    models = stack.load_stack(tmp_path / "r")
    assert len(models) == 1 and models[0].epochs_trained == 2
    for bad in ({"hidden": ()}, {"hidden": (4, 0)}, {"loss": "ce"}, {"corruption": 1.0},
                {"sparsity": (0.0, 1.0)}, {"lr": float("inf")}, {"epochs": 0}, {"seed": -1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            recipe.TrainConfig(**bad)


def test_commands_have_help(group):
    for command in (train, encode, reconstruct):
        result = invoke(group, command.name, "--help")
        assert result.exit_code == 0 and "--out" in result.output
