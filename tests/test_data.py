"""Tests for fsl_sage_dist.data: partitions, datasets (on small files written here), streams.

.venv/bin/python -m pytest tests/test_data.py -q
"""

from __future__ import annotations

import gzip
import json
import pickle
import socket
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
import torchvision.datasets
import torchvision.datasets.cifar

from fsl_sage_dist.data import (
    DATASET_NAMES,
    PARTITION_NAMES,
    ClientData,
    DatasetNotFoundError,
    ImageSet,
    check_dataset_available,
    dataset_shape,
    limit_indices,
    load_dataset,
    partition_indices,
    partition_summary,
)
from fsl_sage_dist.data import cifar as cifar_module
from fsl_sage_dist.data import fashion_mnist as fashion_module
from fsl_sage_dist.data.client_data import batches_per_epoch
from fsl_sage_dist.data.sources import can_reach

from availability import require

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


def balanced_labels(n: int, num_classes: int = 10) -> np.ndarray:
    return np.random.default_rng(0).permutation(np.arange(n) % num_classes)


def assert_disjoint(parts: list[np.ndarray]) -> np.ndarray:
    union = np.concatenate(parts)
    assert len(np.unique(union)) == len(union), "clients share samples"
    return union


# ---------------------------------------------------------------- partitions


def test_iid_sizes_disjoint_and_remainder_unused():
    labels = balanced_labels(1003)
    parts = partition_indices(labels, 10, "iid", seed=1)
    assert [len(p) for p in parts] == [100] * 10
    union = assert_disjoint(parts)
    assert len(union) == 10 * (1003 // 10)
    assert all(np.array_equal(p, np.sort(p)) and p.dtype == np.int64 for p in parts)


def test_shards_sizes_and_label_concentration():
    labels = balanced_labels(1007)
    parts = partition_indices(labels, 10, "shards", seed=1, shards_per_client=2)
    shard_size = 1007 // (10 * 2)
    assert [len(p) for p in parts] == [2 * shard_size] * 10
    assert len(assert_disjoint(parts)) == 10 * 2 * shard_size
    # A shard spans at most two adjacent labels, so a client with 2 shards sees at most 4.
    assert max(len(np.unique(labels[p])) for p in parts) <= 4


def test_shards_exact_when_classes_divide_evenly():
    labels = balanced_labels(1000)
    parts = partition_indices(labels, 10, "shards", seed=3, shards_per_client=2)
    assert max(len(np.unique(labels[p])) for p in parts) <= 2
    assert sorted(np.concatenate(parts).tolist()) == list(range(1000))


def test_dirichlet_complete_and_disjoint():
    labels = balanced_labels(1000)
    parts = partition_indices(labels, 7, "dirichlet", seed=2, alpha=0.5)
    assert sorted(assert_disjoint(parts).tolist()) == list(range(1000))
    assert all(np.array_equal(p, np.sort(p)) for p in parts)


def mean_label_skew(labels: np.ndarray, parts: list[np.ndarray], num_classes: int) -> float:
    """Mean total-variation distance between each client's label distribution and the pool's."""
    overall = np.bincount(labels, minlength=num_classes) / len(labels)
    shares = [np.bincount(labels[p], minlength=num_classes) / len(p) for p in parts]
    return float(np.mean([0.5 * np.abs(share - overall).sum() for share in shares]))


def test_dirichlet_skew_grows_as_alpha_falls():
    labels = balanced_labels(5000)
    skews = [
        mean_label_skew(labels, partition_indices(labels, 10, "dirichlet", seed=4, alpha=alpha), 10)
        for alpha in (100.0, 1.0, 0.1)
    ]
    assert skews[0] < skews[1] < skews[2], skews
    assert skews[0] < 0.1 and skews[2] > 0.5, skews


def test_dirichlet_small_alpha_leaves_no_client_empty():
    labels = balanced_labels(1000)
    # About a third of these seeds draw an empty client first and need a redraw.
    for seed in range(20):
        parts = partition_indices(labels, 10, "dirichlet", seed=seed, alpha=0.05)
        assert min(len(p) for p in parts) >= 1
        assert sum(len(p) for p in parts) == 1000


def test_dirichlet_impossible_request_says_what_to_change():
    # With alpha this small each class lands on about one client, so 50 clients cannot all get data.
    with pytest.raises(ValueError, match=r"alpha=0.001.*50 clients.*raise data.alpha"):
        partition_indices(balanced_labels(60), 50, "dirichlet", seed=0, alpha=0.001)


@pytest.mark.parametrize("scheme", PARTITION_NAMES)
def test_partition_reproducible_from_seed(scheme):
    labels = balanced_labels(600)
    first = partition_indices(labels, 6, scheme, seed=11)
    again = partition_indices(labels, 6, scheme, seed=11)
    other = partition_indices(labels, 6, scheme, seed=12)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_clients": 0}, "num_clients must be >= 1, got 0"),
        ({"num_clients": 11}, "11 clients but only 10 training samples"),
        ({"alpha": 0.0}, "data.alpha must be > 0, got 0.0"),
        ({"shards_per_client": 0}, "shards_per_client must be >= 1, got 0"),
        ({"scheme": "pathological"}, "unknown partition scheme 'pathological'"),
    ],
)
def test_partition_rejects_bad_arguments(kwargs, message):
    args = {"num_clients": 2, "scheme": "dirichlet", "alpha": 0.5, "shards_per_client": 2} | kwargs
    num_clients, scheme = args.pop("num_clients"), args.pop("scheme")
    with pytest.raises(ValueError, match=message):
        partition_indices(balanced_labels(10), num_clients, scheme, 0, **args)


def test_shards_need_enough_samples():
    with pytest.raises(ValueError, match="cannot fill 20 shards"):
        partition_indices(balanced_labels(15), 10, "shards", seed=0, shards_per_client=2)


def test_limit_indices():
    assert np.array_equal(limit_indices(50, 0, seed=0), np.arange(50))
    assert np.array_equal(limit_indices(50, 80, seed=0), np.arange(50))
    chosen = limit_indices(1000, 100, seed=5)
    assert len(np.unique(chosen)) == 100 and np.array_equal(chosen, np.sort(chosen))
    assert chosen.max() < 1000 and chosen.dtype == np.int64
    assert np.array_equal(chosen, limit_indices(1000, 100, seed=5))
    assert not np.array_equal(chosen, limit_indices(1000, 100, seed=6))
    with pytest.raises(ValueError, match="train_limit must be >= 0"):
        limit_indices(10, -1, seed=0)


def test_partition_summary_is_json_and_consistent():
    labels = balanced_labels(103)
    parts = partition_indices(labels, 4, "iid", seed=0)
    summary = json.loads(json.dumps(partition_summary(parts, labels, 10)))
    assert summary["num_clients"] == 4 and summary["pool_samples"] == 103
    assert summary["assigned_samples"] == 100
    assert sum(summary["label_histogram"]) == 100
    for client, part in zip(summary["clients"], parts):
        assert client["samples"] == len(part)
        assert client["label_histogram"] == np.bincount(labels[part], minlength=10).tolist()
    assert [c["client"] for c in summary["clients"]] == [0, 1, 2, 3]


# ---------------------------------------------------------------- synthetic


def test_synthetic_deterministic_with_expected_shapes():
    train = load_dataset("synthetic", "train", seed=3)
    again = load_dataset("synthetic", "train", seed=3)
    test = load_dataset("synthetic", "test", seed=3)
    assert train.images.shape == (2000, 1, 28, 28) and train.images.dtype == torch.float32
    assert len(test) == 500 and train.input_shape == (1, 28, 28) and train.num_classes == 10
    assert torch.equal(train.images, again.images) and torch.equal(train.labels, again.labels)
    assert not torch.equal(train.images[:500], test.images)
    assert not torch.equal(train.images, load_dataset("synthetic", "train", seed=4).images)
    counts = torch.bincount(train.labels, minlength=10)
    assert counts.min() >= 150 and counts.max() <= 250


def test_synthetic_custom_shape():
    data = load_dataset(
        "synthetic", "test", synthetic_shape=(3, 8, 8), num_classes=4, synthetic_size=(40, 20)
    )
    assert data.images.shape == (20, 3, 8, 8) and data.mean == (0.0,) * 3 and data.std == (1.0,) * 3
    assert set(data.labels.tolist()) == {0, 1, 2, 3}


def test_synthetic_learnable_by_nearest_class_mean():
    train = load_dataset("synthetic", "train")
    test = load_dataset("synthetic", "test")
    flat = train.images.flatten(1)
    means = torch.stack([flat[train.labels == c].mean(0) for c in range(10)])
    predicted = torch.cdist(test.images.flatten(1), means).argmin(1)
    accuracy = (predicted == test.labels).float().mean().item()
    assert accuracy > 0.5, accuracy


# ---------------------------------------------------------------- fashion_mnist


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">i4").tobytes()
    raw = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)


def write_fashion(folder: Path, gz: bool, train_size: int = 12, test_size: int = 5) -> None:
    suffix = ".gz" if gz else ""
    rng = np.random.default_rng(0)
    for prefix, n in (("train", train_size), ("t10k", test_size)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n, 28, 28)))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", np.arange(n) % 10)


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """No Debian copy, an empty default cache, and a torchvision download that fails offline."""
    monkeypatch.setattr(fashion_module, "WELL_KNOWN_FOLDERS", (tmp_path / "debian",))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))

    def offline(self):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: offline")

    monkeypatch.setattr(torchvision.datasets.FashionMNIST, "download", offline)
    monkeypatch.setattr(fashion_module, "can_reach", lambda url, timeout_s=3.0: False)
    return tmp_path


def test_fashion_mnist_from_debian_package():
    require(DEBIAN_FASHION, "apt-get install dataset-fashion-mnist")
    train = load_dataset("fashion_mnist", "train")
    test = load_dataset("fashion_mnist", "test")
    assert (len(train), len(test)) == (60000, 10000)
    assert train.images.shape[1:] == (1, 28, 28) and train.images.dtype == torch.uint8
    assert train.labels.unique().tolist() == list(range(10))
    assert train.labels.dtype == torch.int64
    check_dataset_available("fashion_mnist", "")


@pytest.mark.parametrize("layout", [".", "FashionMNIST/raw"])
@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_from_explicit_root(tmp_path, monkeypatch, layout, gz):
    write_fashion(tmp_path / layout, gz=gz)
    monkeypatch.setattr(fashion_module, "can_reach", pytest.fail)  # files present: no probe
    train = load_dataset("fashion_mnist", "train", root=str(tmp_path))
    test = load_dataset("fashion_mnist", "test", root=str(tmp_path))
    assert (len(train), len(test)) == (12, 5)  # the explicit root wins over the Debian copy
    assert train.images.shape == (12, 1, 28, 28) and train.images.dtype == torch.uint8
    assert train.labels.tolist() == [i % 10 for i in range(12)]
    assert train.mean == (0.2860,) and train.std == (0.3530,)
    check_dataset_available("fashion_mnist", str(tmp_path))


def test_fashion_mnist_corrupt_files_are_named(tmp_path):
    write_fashion(tmp_path, gz=True)
    images = tmp_path / "train-images-idx3-ubyte.gz"
    images.write_bytes(gzip.compress(gzip.decompress(images.read_bytes())[:-7]))
    truncated = r"train-images-idx3-ubyte.gz declares shape \(12, 28, 28\)"
    with pytest.raises(ValueError, match=truncated):
        load_dataset("fashion_mnist", "train", root=str(tmp_path))
    images.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz is not a readable gzip file"):
        load_dataset("fashion_mnist", "train", root=str(tmp_path))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros((5, 2)))
    with pytest.raises(ValueError, match="is not an idx file of 1-D unsigned bytes"):
        load_dataset("fashion_mnist", "test", root=str(tmp_path))


def test_fashion_mnist_missing_names_every_folder(nowhere):
    root = nowhere / "mine"
    with pytest.raises(DatasetNotFoundError) as caught:
        load_dataset("fashion_mnist", "train", root=str(root))
    message = str(caught.value)
    folders = ", ".join(str(f) for f in (root, root / "FashionMNIST" / "raw", nowhere / "debian"))
    assert f" in {folders}, " in message and "\n" not in message  # one line, every folder
    assert "offline" in message and "apt-get install dataset-fashion-mnist" in message
    assert "data.root=" in message
    with pytest.raises(DatasetNotFoundError, match="unreachable"):
        check_dataset_available("fashion_mnist", str(root))


def test_fashion_mnist_missing_without_root_names_default_cache(nowhere):
    with pytest.raises(DatasetNotFoundError) as caught:
        load_dataset("fashion_mnist", "test")
    default_raw = nowhere / "home" / ".cache" / "fsl-sage" / "data" / "FashionMNIST" / "raw"
    assert str(default_raw) in str(caught.value)


# ---------------------------------------------------------------- cifar


def cifar_pixels(n: int, offset: int) -> np.ndarray:
    """Rows in CIFAR's layout (1024 red, 1024 green, 1024 blue); the red plane holds the sample's
    number, green 100 + it, blue 200 + it, so the N×C×H×W conversion can be checked exactly."""
    planes = [np.full((n, 1024), base + offset + np.arange(n)[:, None]) for base in (0, 100, 200)]
    return np.concatenate(planes, axis=1).astype(np.uint8)


def write_pickle(path: Path, content: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(content))


def write_cifar10(root: Path) -> None:
    folder = root / "cifar-10-batches-py"
    for batch in range(1, 6):
        offset = 3 * (batch - 1)
        content = {"data": cifar_pixels(3, offset), "labels": [offset % 10] * 3}
        write_pickle(folder / f"data_batch_{batch}", content)
    write_pickle(folder / "test_batch", {"data": cifar_pixels(2, 50), "labels": [7, 8]})
    write_pickle(folder / "batches.meta", {"label_names": [f"class{i}" for i in range(10)]})


def write_cifar100(root: Path) -> None:
    folder = root / "cifar-100-python"
    for split, n in (("train", 6), ("test", 4)):
        fine = list(range(90, 90 + n))
        content = {"data": cifar_pixels(n, 0), "fine_labels": fine, "coarse_labels": [0] * n}
        write_pickle(folder / split, content)
    write_pickle(folder / "meta", {"fine_label_names": [f"class{i}" for i in range(100)]})


@pytest.fixture
def skip_cifar_checksums(monkeypatch):
    # torchvision checks md5s both in _check_integrity and when reading the meta file; both go
    # through this one function.
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *args, **kwargs: True)


def test_cifar10_from_torchvision_files(tmp_path, skip_cifar_checksums):
    write_cifar10(tmp_path)
    train = load_dataset("cifar10", "train", root=str(tmp_path))
    test = load_dataset("cifar10", "test", root=str(tmp_path))
    assert train.images.shape == (15, 3, 32, 32) and train.images.dtype == torch.uint8
    assert len(test) == 2 and test.labels.tolist() == [7, 8] and train.num_classes == 10
    assert train.labels.tolist() == [0, 0, 0, 3, 3, 3, 6, 6, 6, 9, 9, 9, 2, 2, 2]
    for channel in range(3):
        assert torch.all(train.images[4, channel] == 100 * channel + 4)
    assert train.mean == (0.4914, 0.4822, 0.4465) and train.std == (0.2470, 0.2435, 0.2616)
    check_dataset_available("cifar10", str(tmp_path))


def test_cifar100_from_torchvision_files(tmp_path, skip_cifar_checksums):
    write_cifar100(tmp_path)
    train = load_dataset("cifar100", "train", root=str(tmp_path))
    assert train.images.shape == (6, 3, 32, 32) and train.num_classes == 100
    assert train.labels.tolist() == list(range(90, 96))
    assert torch.all(train.images[5, 2] == 205)
    assert train.mean == (0.5071, 0.4865, 0.4409) and train.std == (0.2673, 0.2564, 0.2762)
    assert len(load_dataset("cifar100", "test", root=str(tmp_path))) == 4


@pytest.mark.parametrize(
    ("name", "folder"), [("cifar10", "cifar-10-batches-py"), ("cifar100", "cifar-100-python")]
)
def test_cifar_missing_and_offline_says_how_to_fetch(tmp_path, monkeypatch, name, folder):
    def offline(*args, **kwargs):
        raise URLError("offline")

    monkeypatch.setattr(torchvision.datasets.cifar, "download_and_extract_archive", offline)
    monkeypatch.setattr(cifar_module, "can_reach", lambda url, timeout_s=3.0: False)
    with pytest.raises(DatasetNotFoundError) as caught:
        load_dataset(name, "train", root=str(tmp_path))
    message = str(caught.value)
    assert str(tmp_path / folder) in message and "offline" in message
    assert "download=True" in message and "data.root=" in message
    with pytest.raises(DatasetNotFoundError, match=folder):
        check_dataset_available(name, str(tmp_path))


# ---------------------------------------------------------------- catalog


def test_dataset_names_and_shapes():
    assert DATASET_NAMES == (
        "synthetic",
        "fashion_mnist",
        "cifar10",
        "cifar100",
        "e2e_synthetic",
        "e2e_nlg",
    )
    assert dataset_shape("e2e_synthetic", (1, 28, 28), 10, seq_len=64) == ((64,), 258)
    assert dataset_shape("synthetic", (3, 16, 16), 7) == ((3, 16, 16), 7)
    assert dataset_shape("fashion_mnist", (1, 28, 28), 10) == ((1, 28, 28), 10)
    assert dataset_shape("cifar10", (1, 28, 28), 3) == ((3, 32, 32), 10)
    assert dataset_shape("cifar100", (1, 28, 28), 3) == ((3, 32, 32), 100)
    check_dataset_available("synthetic", "/nonexistent")


def test_can_reach_probe_without_network():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    assert can_reach(f"http://127.0.0.1:{port}/cifar.tar.gz")
    listener.close()
    assert not can_reach(f"http://127.0.0.1:{port}/cifar.tar.gz", timeout_s=1.0)


def test_unknown_dataset_or_split():
    with pytest.raises(ValueError, match=r"unknown dataset 'mnist'; choose one of \('synthetic'"):
        load_dataset("mnist", "train")
    with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
        dataset_shape("mnist", (1, 28, 28), 10)
    with pytest.raises(ValueError, match=r"unknown split 'val'; choose one of \('train', 'test'\)"):
        load_dataset("synthetic", "val")


# ---------------------------------------------------------------- ImageSet


def uint8_set(n: int = 6, channels: int = 2, size: int = 8) -> ImageSet:
    """Random uint8 pixels; label i for sample i, so labels identify the rows a batch serves."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, channels, size, size), generator=generator)
    mean, std = (0.5, 0.25)[:channels], (0.5, 0.2)[:channels]
    return ImageSet(images.to(torch.uint8), torch.arange(n), mean, std, n)


def test_batch_normalises_uint8():
    data = uint8_set()
    x, y = data.batch(torch.tensor([4, 1]))
    raw = data.images[[4, 1]].double() / 255
    mean = torch.tensor([0.5, 0.25], dtype=torch.float64).view(1, 2, 1, 1)
    std = torch.tensor([0.5, 0.2], dtype=torch.float64).view(1, 2, 1, 1)
    expected = (raw - mean) / std
    assert x.dtype == torch.float32 and y.tolist() == [4, 1]
    torch.testing.assert_close(x.double(), expected, atol=1e-6, rtol=0)


def test_batch_leaves_standardised_float_images_unchanged():
    data = load_dataset("synthetic", "test", synthetic_size=(10, 10))
    x, _ = data.batch(torch.arange(10))
    assert torch.equal(x, data.images)


def test_image_set_validates():
    labels = torch.zeros(2, dtype=torch.int64)
    with pytest.raises(ValueError, match="one mean and std per channel"):
        ImageSet(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), labels, (0.5,), (0.5,), 10)
    with pytest.raises(ValueError, match=r"labels must be int64 of shape \(3,\)"):
        ImageSet(torch.zeros(3, 1, 4, 4, dtype=torch.uint8), labels, (0.5,), (0.5,), 10)
    with pytest.raises(ValueError, match="must be N×C×H×W"):
        ImageSet(torch.zeros(2, 4, 4, dtype=torch.uint8), labels, (0.5,), (0.5,), 10)


def crops_of(image: torch.Tensor, padding: int = 4) -> list[torch.Tensor]:
    """Every zero-padded crop of the image and its mirror image."""
    _, height, width = image.shape
    padded = torch.nn.functional.pad(image, (padding,) * 4)
    crops = []
    for dy in range(2 * padding + 1):
        for dx in range(2 * padding + 1):
            crop = padded[:, dy : dy + height, dx : dx + width]
            crops += [crop, crop.flip(-1)]
    return crops


def test_augment_is_a_padded_crop_or_flip_of_each_image():
    images = torch.rand(16, 3, 12, 12) + 1  # strictly positive, so padding zeros are visible
    data = ImageSet(images, torch.zeros(16, dtype=torch.int64), (0.0,) * 3, (1.0,) * 3, 1)
    x, _ = data.batch(torch.arange(16), augment=torch.Generator().manual_seed(0))
    assert x.shape == images.shape and x.dtype == torch.float32
    for out, image in zip(x, images):
        assert any(torch.equal(out, crop) for crop in crops_of(image))
    assert (x == 0).any(), "no sample was shifted"
    flipped = sum(
        any(torch.equal(out, mirrored) for mirrored in crops_of(image)[1::2])
        for out, image in zip(x, images)
    )
    assert 0 < flipped < 16


# ---------------------------------------------------------------- ClientData


def client(augment: bool = False, client_id: int = 2, seed: int = 9) -> ClientData:
    data = uint8_set(n=100)
    indices = np.arange(1, 100, 3)
    return ClientData(data, indices, batch_size=8, seed=seed, client_id=client_id, augment=augment)


def epoch_labels(stream: ClientData, round_: int, epoch: int) -> list[list[int]]:
    return [y.tolist() for _, y in stream.epoch(round_, epoch)]


def test_client_epoch_covers_its_samples_once():
    stream = client()
    assert stream.num_samples == 33 and stream.batches_per_epoch == 4
    assert len(stream.data) == 33  # holds only its own rows
    batches = epoch_labels(stream, 0, 0)
    assert [len(b) for b in batches] == [8, 8, 8, 8]  # a last batch of one is left out
    # Labels equal sample numbers in uint8_set, so they identify the rows served.
    served = [label for batch in batches for label in batch]
    assert len(set(served)) == 32 and set(served) <= set(range(1, 100, 3))


@pytest.mark.parametrize(
    "samples, batch_size, sizes",
    [
        (33, 8, [8, 8, 8, 8]),
        (34, 8, [8, 8, 8, 8, 2]),
        (32, 8, [8, 8, 8, 8]),
        (9, 8, [8]),
        (1, 8, [1]),
        (5, 1, [1] * 5),
        (7, 3, [3, 3]),
        (8, 3, [3, 3, 2]),
    ],
)
def test_no_training_batch_of_one_unless_it_is_all_there_is(samples, batch_size, sizes):
    """BatchNorm cannot train on one sample; the server counts the same iterations."""
    stream = ClientData(
        uint8_set(n=100),
        np.arange(samples),
        batch_size=batch_size,
        seed=0,
        client_id=0,
        augment=False,
    )
    assert [len(b) for b in epoch_labels(stream, 0, 0)] == sizes
    assert stream.batches_per_epoch == batches_per_epoch(samples, batch_size) == len(sizes)


def test_the_left_out_sample_changes_from_epoch_to_epoch():
    served = [
        {label for batch in epoch_labels(client(), 0, e) for label in batch} for e in range(6)
    ]
    assert len(set.union(*served)) == 33


def test_client_order_derived_from_seed_client_round_epoch():
    base = epoch_labels(client(), 3, 1)
    assert epoch_labels(client(), 3, 1) == base
    assert epoch_labels(client(), 4, 1) != base
    assert epoch_labels(client(), 3, 2) != base
    assert epoch_labels(client(client_id=5), 3, 1) != base
    assert epoch_labels(client(seed=10), 3, 1) != base


def test_client_augment_changes_pixels_not_order_or_shape():
    plain = list(client(augment=False).epoch(0, 0))
    augmented = list(client(augment=True).epoch(0, 0))
    for (x, y), (xa, ya) in zip(plain, augmented):
        assert torch.equal(y, ya) and xa.shape == x.shape and xa.dtype == torch.float32
    assert not all(torch.equal(x, xa) for (x, _), (xa, _) in zip(plain, augmented))
    again = list(client(augment=True).epoch(0, 0))
    assert all(torch.equal(xa, xb) for (xa, _), (xb, _) in zip(augmented, again))


def test_client_data_rejects_bad_arguments():
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        ClientData(uint8_set(), np.arange(3), batch_size=0, seed=0, client_id=0, augment=False)
    with pytest.raises(ValueError, match="client 4 has no training samples"):
        ClientData(uint8_set(), np.arange(0), batch_size=2, seed=0, client_id=4, augment=False)
