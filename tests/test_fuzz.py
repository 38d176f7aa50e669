"""Property-based tests (hypothesis): damaged files and random option values never give a
traceback, only the documented errors.

* ``fastae.datasets.read_idx`` raises only DatasetError or OSError;
* ``fastae.userdata.load_array`` raises only DataError;
* ``fastae train`` and ``fastae run q1`` answer a bad option value with exit code 2 and one
  ``Error:`` line (the training itself is replaced by a stub: only the parsing is tested).
"""
import gzip
import io
import math
import struct
from unittest import mock

import numpy as np
import pytest
from click.testing import CliRunner
from fastae_cli.main import cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastae.datasets import DatasetError, read_idx
from fastae.userdata import DataError, load_array

FUZZ = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"
GZIP_MAGIC = b"\x1f\x8b"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def write(directory, name, content):
    path = directory / name
    path.write_bytes(content)
    return path


# ------------------------------------------------------------------- IDX reader


def idx_header(zero, type_code, ndim, dims):
    return struct.pack(">HBB", zero, type_code, ndim) + b"".join(struct.pack(">I", d) for d in dims)


small_or_any = st.one_of(st.integers(0, 6), st.integers(0, 2**32 - 1))


@st.composite
def idx_files(draw):
    """IDX files with plausible but often wrong headers and payloads, maybe gzipped or cut."""
    zero = draw(st.one_of(st.just(0), st.integers(0, 0xFFFF)))
    type_code = draw(st.one_of(st.just(0x08), st.integers(0, 0xFF)))
    ndim = draw(st.one_of(st.integers(1, 4), st.integers(0, 0xFF)))
    dims = draw(st.lists(small_or_any, max_size=6))
    # A shape whose byte count overflows 64 bits is test_read_idx_shape_overflow's case.
    if len(dims) >= ndim and math.prod(dims[:ndim]) >= 2**63:
        dims = [d % 7 for d in dims]
    payload = draw(st.binary(max_size=80))
    raw = idx_header(zero, type_code, ndim, dims) + payload
    if draw(st.booleans()):
        raw = gzip.compress(raw)
    cut = draw(st.integers(0, len(raw)))
    return raw[:cut] if draw(st.booleans()) else raw


@FUZZ
@given(content=st.binary(max_size=300), gz=st.booleans())
def test_read_idx_random_bytes(workdir, content, gz):
    path = write(workdir, "random-idx", gzip.compress(content) if gz else content)
    try:
        read_idx(path)
    except (DatasetError, OSError):
        pass


@FUZZ
@given(content=idx_files())
def test_read_idx_malformed_headers(workdir, content):
    path = write(workdir, "malformed-idx", content)
    try:
        images = read_idx(path)
    except (DatasetError, OSError):
        return
    assert images.dtype == np.uint8 and images.size > 0


def test_read_idx_shape_overflow(workdir):
    path = write(workdir, "overflow-idx", idx_header(0, 0x08, 4, [65536] * 4))
    with pytest.raises(DatasetError):
        read_idx(path)


# -------------------------------------------------------------------- load_array


def valid_files():
    """Small valid files of every format, as (suffix, bytes)."""
    rng = np.random.default_rng(0)
    X = rng.random((4, 3))
    npy, npz = io.BytesIO(), io.BytesIO()
    np.save(npy, X)
    np.savez_compressed(npz, x=X, y=X[:2])
    csv = "a,b,c\n" + "\n".join(",".join(f"{v:.3f}" for v in row) for row in X) + "\n"
    idx = idx_header(0, 0x08, 3, [2, 2, 2]) + bytes(range(8))
    return [(".npy", npy.getvalue()), (".npz", npz.getvalue()), (".csv", csv.encode()), (".txt", b"1 2\n3 4\n"),
            ("-idx3-ubyte", idx), (".gz", gzip.compress(idx))]


VALID = valid_files()
SUFFIXES = ["", ".npy", ".npz", ".csv", ".txt", ".gz", "-idx3-ubyte", ".bin"]
PREFIXES = [b"", NPY_MAGIC, NPY_MAGIC + b"\x01\x00", ZIP_MAGIC, GZIP_MAGIC, b"\x00\x00\x08\x02", b"1,2\n"]


def check_loaded(path, key=None):
    """load_array either returns a finite 2-D float array or raises DataError."""
    try:
        X = load_array(path, key=key)
    except DataError as e:
        assert str(e), "an empty message"
        return
    assert X.ndim == 2 and X.size > 0 and X.dtype in (np.float32, np.float64)
    assert np.isfinite(X).all()


@FUZZ
@given(prefix=st.sampled_from(PREFIXES), content=st.binary(max_size=300), suffix=st.sampled_from(SUFFIXES))
def test_load_array_random_bytes(workdir, prefix, content, suffix):
    check_loaded(write(workdir, "random" + suffix, prefix + content))


@FUZZ
@given(data=st.data())
def test_load_array_damaged_files(workdir, data):
    suffix, content = data.draw(st.sampled_from(VALID))
    content = bytearray(content)
    for _ in range(data.draw(st.integers(0, 4))):  # overwrite a few bytes
        if content:
            content[data.draw(st.integers(0, len(content) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(content)))
    key = data.draw(st.sampled_from([None, None, "x", "y", "nope"]))
    check_loaded(write(workdir, "damaged" + suffix, bytes(content[:cut])), key=key)


@FUZZ
@given(lines=st.lists(st.text(alphabet=" ,\t0123456789.-+eEnaif\r", max_size=20), max_size=8))
def test_load_array_text_like_csv(workdir, lines):
    check_loaded(write(workdir, "texty.csv", "\n".join(lines).encode()))


# ---------------------------------------------------------------- option values

NASTY = ["", " ", "0", "-1", "1", "nan", "NaN", "inf", "-inf", "1e400", "1e-400", "0.5", "1,2", "0.05,0.5",
         "0,0", "1,,2", ",", "0x10", "1_000", "\u0663", "2**3", "--help", "-h", "1;2", "1e3", "+5", "9" * 30]

option_values = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=12),
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.lists(st.one_of(st.integers(-5, 300).map(str), st.floats(-1, 2).map(str), st.sampled_from(["", "x", "nan"])),
             min_size=1, max_size=4).map(",".join),
)


def assert_usage_error(result):
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert len([line for line in result.output.splitlines() if line.startswith("Error:")]) == 1, result.output


@pytest.fixture(scope="module")
def train_group():
    return cli


@pytest.fixture(scope="module")
def good_data(workdir):
    return write(workdir, "good.csv", b"0,0.5,1\n1,0.5,0\n")


def valid_train_config(cfg):
    rho_beta_ok = cfg.sparsity is None or (0 < cfg.sparsity[0] < 1 and math.isfinite(cfg.sparsity[1])
                                           and cfg.sparsity[1] >= 0)
    return (all(isinstance(k, int) and k >= 1 for k in cfg.hidden) and len(cfg.hidden) >= 1
            and 0 <= cfg.corruption < 1 and rho_beta_ok and cfg.epochs >= 1 and math.isfinite(cfg.lr))


@FUZZ
@given(values=st.dictionaries(st.sampled_from(["--hidden", "--sparsity", "--corruption", "--epochs"]),
                              option_values, min_size=1, max_size=3))
def test_train_random_option_values(train_group, good_data, workdir, values):
    args = ["train", str(good_data), "--out", str(workdir / "run"), "--quiet"]
    args += [f"{option}={value}" for option, value in values.items()]
    with mock.patch("fastae.experiments.train.run") as stub:
        result = CliRunner().invoke(train_group, args)
    if result.exit_code == 0:
        assert stub.call_count == 1, result.output
        assert valid_train_config(stub.call_args.args[0]), (values, stub.call_args)
    else:
        assert_usage_error(result)


def nonfinite_float(text):
    try:
        return not math.isfinite(float(text))
    except ValueError:
        return False


@FUZZ
@given(values=st.dictionaries(st.sampled_from(["--epochs", "--lr"]), option_values, min_size=1, max_size=2))
def test_run_q1_random_option_values(workdir, values):
    if nonfinite_float(values.get("--lr", "0.1")):
        return  # test_run_q1_nonfinite_lr's known problem
    args = ["run", "q1", "--out", str(workdir / "q1"), "--quiet"] + [f"{o}={v}" for o, v in values.items()]
    with mock.patch("fastae.experiments.q1.run") as stub:
        result = CliRunner().invoke(cli, args)
    if result.exit_code == 0:
        assert stub.call_count == 1, result.output
        cfg = stub.call_args.args[0]
        assert cfg.epochs >= 1 and math.isfinite(cfg.lr) and cfg.lr > 0, values
    else:
        assert_usage_error(result)


@pytest.mark.parametrize("lr", ["nan", "inf"])
def test_run_q1_nonfinite_lr(workdir, lr):
    with mock.patch("fastae.experiments.q1.run"):
        result = CliRunner().invoke(cli, ["run", "q1", f"--lr={lr}", "--out", str(workdir / "q1"), "--quiet"])
    assert_usage_error(result)
