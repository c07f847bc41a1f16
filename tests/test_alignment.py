"""FSL-SAGE's alignment fits the aux head's gradient estimate to the server's true one."""

import pytest
import torch
import torch.nn.functional as F

from fsl_sage_dist.algorithms.alignment import align_aux, per_sample_cut_grads
from fsl_sage_dist.algorithms.base import adam
from fsl_sage_dist.algorithms.lazy_server import aux_input_grad
from fsl_sage_dist.algorithms.smashed_store import SmashedStore
from fsl_sage_dist.data import load_dataset
from fsl_sage_dist.models import build_split_model


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """One thread for these small fits; the next module gets back what it had."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def smashed():
    model = build_split_model("simple_conv", (1, 28, 28), 10, seed=1)
    data = load_dataset("synthetic", "train", synthetic_size=(600, 10), seed=1)
    x, y = data.batch(torch.arange(600))
    with torch.no_grad():
        z = model.client(x)
    return model, z, y


def true_mean_grad(server, z, y):
    z = z.detach().requires_grad_()
    (g,) = torch.autograd.grad(F.nll_loss(server(z), y), z)
    return g


def test_per_sample_grads_scaled_by_batch_equal_the_mean_loss_gradient(smashed):
    model, z, y = smashed
    assert torch.allclose(
        per_sample_cut_grads(model.server, z, y) / len(y),
        true_mean_grad(model.server, z, y),
        atol=1e-9,
    )


@pytest.mark.parametrize("batch", [600, 100])
def test_alignment_brings_the_estimate_closer_to_the_true_gradient(smashed, batch):
    """Store 500 rows, align, then compare on a held-out fixed batch of 100 rows."""
    model, z, y = smashed
    aux = model.aux
    aux.load_state_dict(build_split_model("simple_conv", (1, 28, 28), 10, seed=1).aux.state_dict())
    fit_z, fit_y, test_z, test_y = z[:500], y[:500], z[500:], y[500:]
    target = true_mean_grad(model.server, test_z, test_y)
    before = (aux_input_grad(aux, test_z, test_y) - target).norm() / target.norm()
    align_aux(
        aux,
        adam(aux, 1e-3, 0.0),
        model.server,
        fit_z,
        fit_y,
        epochs=100,
        batch_size=batch,
        generator=torch.Generator().manual_seed(0),
    )
    after = (aux_input_grad(aux, test_z, test_y) - target).norm() / target.norm()
    print(f"align batch {batch}: relative gradient error {before:.3f} -> {after:.3f}")
    assert after <= 0.7 * before


def test_store_keeps_the_most_recent_rows_fifo():
    store = SmashedStore(capacity_rows=5)
    for start in (0, 3, 6):
        rows = torch.arange(start, start + 3, dtype=torch.float32)
        store.append(rows[:, None], rows.long())
    assert store.labels.tolist() == [4, 5, 6, 7, 8] and len(store) == 5
    assert store.activations[:, 0].tolist() == [4.0, 5.0, 6.0, 7.0, 8.0]
