"""The five algorithms re-stated from ALGORITHMS.md alone: one process, plain loops, no roles.

`restate(cfg)` runs `cfg` the way ALGORITHMS.md Part I defines each algorithm and returns what
the package's run records (per-round metrics and the final averaged models), so
tests/test_semantics.py can hold the package's in-process run to it bitwise. Nothing here
imports the package's algorithms/, runtime/, wire/ or averaging code: a rule changed there
(who is averaged with which weights, the order the server serves uploads, when an aux head is
fitted, what it is fitted on, ...) makes the two disagree.

What is shared with the package, and why none of it is an algorithm rule:
- the data: `load_dataset`, `limit_indices` + `partition_indices` (which rows each client
  owns) and `ClientData.epoch` (each client's batches per round and epoch, from its seeded
  stream), so both sides train on identical inputs;
- the initial weights: `build_split_model` (every client starts from the template's client and
  aux weights, decision 10);
- the round's sample of clients: `placement.participants` (a seeded draw, decision 10).
Float orders are mirrored, not imported, where they decide only the last bit: averaging
accumulates in float64 in ascending client id with weights n_i / sum(n) (decision 4, and the
order `algorithms/averaging.py` documents); alignment targets are each stored row's gradient of
its own NLL divided by |batch|, over rows shuffled by the (seed, "align", client, round) stream
(decision 10; the order `algorithms/alignment.py` documents); recorded training losses are
per-client float64 sums of each batch's summed NLL (the aux head's: its mean times the batch
size); evaluation sums the NLL over batches of `eval_batch_size` test samples.

Covered: the five algorithms, synchronous alignment, both server orders, both alignment
staleness rules, classifiers. Not covered: `fsl.async_align`, activation compression,
language models (the shared inputs are then different).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fsl_sage_dist.config import Config
from fsl_sage_dist.data import ClientData, limit_indices, load_dataset, partition_indices
from fsl_sage_dist.models import SplitModel, build_split_model
from fsl_sage_dist.plan.placement import participants
from fsl_sage_dist.seeding import torch_generator


@dataclass
class Restated:
    sizes: list[int]
    """Each client's sample count."""
    rounds: list[dict[str, Any]] = field(default_factory=list)
    """Per round: participants, (FSL-SAGE) aligned, train_loss, client_loss, test_acc,
    test_loss."""
    full: dict[str, torch.Tensor] = field(default_factory=dict)
    """The evaluated model after the last round, `Sequential(client, server)`: the averaged
    client and the server (SplitFed-v1 and FedAvg: the average of the server copies)."""


class _Setup:
    """Inputs both sides share: data per client, sizes, the template model, the test set."""

    def __init__(self, cfg: Config) -> None:
        d = cfg.data
        kwargs = dict(
            synthetic_shape=tuple(d.synthetic_shape),
            num_classes=d.num_classes,
            synthetic_size=tuple(d.synthetic_size),
            seed=cfg.seed,
        )
        train = load_dataset(d.name, "train", root=d.root, **kwargs)
        self.test = load_dataset(d.name, "test", root=d.root, **kwargs)
        pool = limit_indices(len(train), d.train_limit, cfg.seed)
        parts = partition_indices(
            train.labels.numpy()[pool],
            cfg.clients.num,
            d.partition,
            cfg.seed,
            alpha=d.alpha,
            shards_per_client=d.shards_per_client,
        )
        parts = [pool[p] for p in parts]
        self.sizes = [len(p) for p in parts]
        self.data = [
            ClientData(train, p, cfg.train.batch_size, cfg.seed, c, d.augment)
            for c, p in enumerate(parts)
        ]
        self.template: SplitModel = build_split_model(
            cfg.model.name,
            train.input_shape,
            train.num_classes,
            cut=cfg.model.cut,
            stem=cfg.model.stem,
            seed=cfg.seed,
        )
        self.cfg = cfg

    def batches(self, client: int, round_: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The client's local iterations of the round, across epochs."""
        return [
            batch
            for epoch in range(self.cfg.train.local_epochs)
            for batch in self.data[client].epoch(round_, epoch)
        ]

    def participants(self, round_: int) -> list[int]:
        c = self.cfg.clients
        return participants(self.cfg.seed, round_, c.num, c.per_round)

    def adam(self, module: nn.Module) -> torch.optim.Optimizer:
        t = self.cfg.train
        return torch.optim.Adam(module.parameters(), lr=t.lr, weight_decay=t.weight_decay)

    def aux_adam(self, module: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.Adam(module.parameters(), lr=self.cfg.fsl.aux_lr, weight_decay=0.0)


class _Losses:
    """A round's training losses: [client, (full-model sum, samples, aux sum, samples)]."""

    def __init__(self, clients: int) -> None:
        self.table = torch.zeros(clients, 4, dtype=torch.float64)

    def add(self, client: int, out: torch.Tensor, y: torch.Tensor) -> None:
        """The model's batch loss, summed over the batch."""
        self.table[client, 0] += float(F.nll_loss(out.detach(), y, reduction="sum"))
        self.table[client, 1] += len(y)

    def add_aux(self, client: int, mean: torch.Tensor, samples: int) -> None:
        """The aux head's batch loss, from the mean the client stepped on."""
        self.table[client, 2] += float(mean.detach()) * samples
        self.table[client, 3] += samples

    def record(self) -> dict[str, float | None]:
        total = self.table.sum(dim=0)
        train = float(total[0] / total[1]) if total[1] > 0 else None
        aux = float(total[2] / total[3]) if total[3] > 0 else None
        return {"train_loss": train, "client_loss": train if aux is None else aux}


def average(modules: dict[int, nn.Module], sizes: list[int], into: nn.Module) -> None:
    """Decision 4: weights n_i / sum(n) over the participants, summed in ascending client id
    in float64, loaded into `into`."""
    ids = sorted(modules)
    total = sum(sizes[c] for c in ids)
    states = [modules[c].state_dict() for c in ids]
    averaged = {}
    for key, like in states[0].items():
        if like.is_floating_point():
            acc = torch.zeros_like(like, dtype=torch.float64)
            for c, state in zip(ids, states):
                acc += sizes[c] / total * state[key].double()
            averaged[key] = acc.float()
        else:
            acc = torch.zeros_like(like)
            for c, state in zip(ids, states):
                acc += sizes[c] * state[key]
            averaged[key] = torch.div(acc, total, rounding_mode="floor")
    into.load_state_dict(averaged)


def evaluate(setup: _Setup, client: nn.Module, server: nn.Module) -> dict[str, float]:
    """Decision 9: accuracy over the test set, NLL as the mean over samples, eval mode."""
    model = nn.Sequential(client, server).eval()
    correct, loss, test = 0, 0.0, setup.test
    batch = setup.template.eval_batch_size
    with torch.no_grad():
        for start in range(0, len(test), batch):
            x, y = test.batch(torch.arange(start, min(start + batch, len(test))))
            out = model(x)
            correct += int((out.argmax(dim=1) == y).sum())
            loss += float(F.nll_loss(out, y, reduction="sum"))
    model.train()
    return {"test_acc": correct / len(test), "test_loss": loss / len(test)}


class _Clients:
    """Each client's own model copy and persistent optimizer (decision 5), made on first use."""

    def __init__(self, make: Any) -> None:
        self.make, self.items = make, {}

    def __getitem__(self, client: int) -> Any:
        if client not in self.items:
            self.items[client] = self.make()
        return self.items[client]


def _finish(result: Restated, client: nn.Module, server: nn.Module) -> Restated:
    result.full = copy.deepcopy(nn.Sequential(client, server).state_dict())
    return result


def fedavg(setup: _Setup) -> Restated:
    """Decision 3: every client trains its own full copy; the copies are averaged."""
    g_client, g_server = copy.deepcopy(setup.template.client), copy.deepcopy(setup.template.server)

    def make() -> tuple[nn.Module, torch.optim.Optimizer]:
        full = nn.Sequential(copy.deepcopy(g_client), copy.deepcopy(g_server))
        return full, setup.adam(full)

    clients, result = _Clients(make), Restated(setup.sizes)
    for t in range(setup.cfg.rounds):
        chosen, losses = setup.participants(t), _Losses(len(setup.sizes))
        for c in chosen:
            full, opt = clients[c]
            full[0].load_state_dict(g_client.state_dict())
            full[1].load_state_dict(g_server.state_dict())
            for x, y in setup.batches(c, t):
                opt.zero_grad()
                out = full(x)
                F.nll_loss(out, y).backward()
                opt.step()
                losses.add(c, out, y)
        average({c: clients[c][0][0] for c in chosen}, setup.sizes, g_client)
        average({c: clients[c][0][1] for c in chosen}, setup.sizes, g_server)
        result.rounds.append(
            {"participants": chosen} | losses.record() | evaluate(setup, g_client, g_server)
        )
    return _finish(result, g_client, g_server)


def _split_step(
    client: nn.Module,
    client_opt: torch.optim.Optimizer,
    server: nn.Module,
    server_opt: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
) -> torch.Tensor:
    """SplitFed's iteration (Part II 2.2): the server steps on the uploaded activations and
    returns their gradient, with which the client steps. Returns the server's output."""
    client_opt.zero_grad()
    z = client(x)
    smashed = z.detach().requires_grad_()
    server_opt.zero_grad()
    out = server(smashed)
    F.nll_loss(out, y).backward()
    server_opt.step()
    z.backward(smashed.grad)
    client_opt.step()
    return out


def splitfed(setup: _Setup, per_client_server: bool) -> Restated:
    """SplitFed-v1 (`per_client_server`): one server copy and optimizer per client, averaged at
    round end (decision 5). SplitFed-v2: one shared server, clients in whole turns in
    client-id order (decision 1)."""
    g_client, g_server = copy.deepcopy(setup.template.client), copy.deepcopy(setup.template.server)

    def make_client() -> tuple[nn.Module, torch.optim.Optimizer]:
        model = copy.deepcopy(g_client)
        return model, setup.adam(model)

    def make_server() -> tuple[nn.Module, torch.optim.Optimizer]:
        model = copy.deepcopy(g_server)
        return model, setup.adam(model)

    clients, copies, result = _Clients(make_client), _Clients(make_server), Restated(setup.sizes)
    shared = make_server()
    for t in range(setup.cfg.rounds):
        chosen, losses = setup.participants(t), _Losses(len(setup.sizes))
        for c in chosen:
            model, opt = clients[c]
            model.load_state_dict(g_client.state_dict())
            server, server_opt = copies[c] if per_client_server else shared
            if per_client_server:
                server.load_state_dict(g_server.state_dict())
            for x, y in setup.batches(c, t):
                losses.add(c, _split_step(model, opt, server, server_opt, x, y), y)
        average({c: clients[c][0] for c in chosen}, setup.sizes, g_client)
        if per_client_server:
            average({c: copies[c][0] for c in chosen}, setup.sizes, g_server)
        else:
            g_server = shared[0]
        result.rounds.append(
            {"participants": chosen} | losses.record() | evaluate(setup, g_client, g_server)
        )
    return _finish(result, g_client, g_server)


@dataclass
class _Upload:
    client: int
    z: torch.Tensor
    y: torch.Tensor


def _serve(
    server: nn.Module, opt: torch.optim.Optimizer, up: _Upload, losses: _Losses
) -> torch.Tensor:
    """A lazy server update (Part II 2.4 step 3): one step on the uploaded batch only."""
    opt.zero_grad()
    out = server(up.z)
    F.nll_loss(out, up.y).backward()
    opt.step()
    losses.add(up.client, out, up.y)
    return out


def _server_order(setup: _Setup, uploads: list[_Upload], slots: list[int]) -> list[_Upload]:
    """Decision 2: upload slot by slot with client id ascending within a slot ("interleaved"),
    or all of one client's uploads before the next client's ("client_major")."""
    key = {
        "interleaved": lambda i: (slots[i], uploads[i].client),
        "client_major": lambda i: (uploads[i].client, slots[i]),
    }[setup.cfg.fsl.server_order]
    return [uploads[i] for i in sorted(range(len(uploads)), key=key)]


def cse_fsl(setup: _Setup) -> Restated:
    """Part II 2.4: the client and its aux head step on the aux head's own loss every
    iteration; every q-th iteration's activations (from before the step) go to the server,
    which steps on them; client models and aux heads are averaged at round end."""
    q = setup.cfg.fsl.server_interval
    g_client, g_aux = copy.deepcopy(setup.template.client), copy.deepcopy(setup.template.aux)
    server = copy.deepcopy(setup.template.server)
    server_opt = setup.adam(server)

    def make() -> tuple[nn.Module, torch.optim.Optimizer, nn.Module, torch.optim.Optimizer]:
        model, aux = copy.deepcopy(g_client), copy.deepcopy(g_aux)
        return model, setup.adam(model), aux, setup.aux_adam(aux)

    clients, result = _Clients(make), Restated(setup.sizes)
    for t in range(setup.cfg.rounds):
        chosen, losses = setup.participants(t), _Losses(len(setup.sizes))
        uploads: list[_Upload] = []
        slots: list[int] = []
        for c in chosen:
            model, opt, aux, aux_opt = clients[c]
            model.load_state_dict(g_client.state_dict())
            aux.load_state_dict(g_aux.state_dict())
            for it, (x, y) in enumerate(setup.batches(c, t)):
                opt.zero_grad()
                aux_opt.zero_grad()
                z = model(x)
                smashed = z.detach().requires_grad_()
                aux_loss = F.nll_loss(aux(smashed), y)
                aux_loss.backward()
                aux_opt.step()
                z.backward(smashed.grad)
                opt.step()
                losses.add_aux(c, aux_loss, len(y))
                if it % q == 0:
                    uploads.append(_Upload(c, z.detach(), y))
                    slots.append(it // q)
        for up in _server_order(setup, uploads, slots):
            _serve(server, server_opt, up, losses)
        average({c: clients[c][0] for c in chosen}, setup.sizes, g_client)
        average({c: clients[c][2] for c in chosen}, setup.sizes, g_aux)
        result.rounds.append(
            {"participants": chosen} | losses.record() | evaluate(setup, g_client, server)
        )
    return _finish(result, g_client, server)


def _aux_cut_grad(
    aux: nn.Module, z: torch.Tensor, y: torch.Tensor, graph: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """NLL_mean(aux(z), y) and its gradient w.r.t. z: the client's estimate of the server's
    cut gradient (decision 7)."""
    z = z.detach().requires_grad_()
    loss = F.nll_loss(aux(z), y)
    (grad,) = torch.autograd.grad(loss, z, create_graph=graph)
    return loss, grad


def _align(
    setup: _Setup,
    client: int,
    round_: int,
    aux: nn.Module,
    opt: torch.optim.Optimizer,
    server: nn.Module,
    store: tuple[torch.Tensor, torch.Tensor],
) -> None:
    """Decision 6: fit the aux head's cut gradient to the current server's on the stored rows,
    sum-reduced squared error, `align_epochs` epochs of shuffled batches; each batch's targets
    carry the same 1/|batch| as its predictions; the server does not step. The targets are
    each row's own gradient (of the summed NLL) divided by |batch| and the rows are shuffled by
    the (seed, "align", client, round) stream: the float order `algorithms/alignment.py`
    documents, which decides only the last bits."""
    fsl = setup.cfg.fsl
    z_all, y_all = store
    server.train()
    z = z_all.detach().requires_grad_()
    (per_row,) = torch.autograd.grad(F.nll_loss(server(z), y_all, reduction="sum"), z)
    shuffles = torch_generator(setup.cfg.seed, "align", client, round_)
    for _ in range(fsl.align_epochs):
        for idx in torch.randperm(len(y_all), generator=shuffles).split(fsl.align_batch_size):
            _, pred = _aux_cut_grad(aux, z_all[idx], y_all[idx], graph=True)
            loss = (pred - per_row[idx] / len(idx)).pow(2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()


def fsl_sage(setup: _Setup) -> Restated:
    """Part II 2.5 with decisions 2, 6, 7 and 13: the server steps on every q-th iteration's
    activations and keeps the latest `store_size` rows per client; at a client's first
    iteration of a participation where its alignment is due, after that iteration's server
    step, the server fits the client's aux head and sends it; the client steps on the aux
    head's cut gradient. Only client models are averaged."""
    fsl = setup.cfg.fsl
    q, l_rounds = fsl.server_interval, fsl.align_interval
    if fsl.async_align:
        raise NotImplementedError("re-stated for synchronous alignment")
    g_client = copy.deepcopy(setup.template.client)
    server = copy.deepcopy(setup.template.server)
    server_opt = setup.adam(server)

    def make() -> dict[str, Any]:
        model, fitted = copy.deepcopy(g_client), copy.deepcopy(setup.template.aux)
        cut = setup.template.cut_shape
        return {
            "model": model,
            "opt": setup.adam(model),
            "aux": copy.deepcopy(setup.template.aux),  # the client's copy, inference only
            "fitted": fitted,  # the server's copy and its persistent Adam
            "fitted_opt": setup.aux_adam(fitted),
            "store": (torch.zeros(0, *cut), torch.zeros(0, dtype=torch.int64)),
            "participations": 0,  # before the current one
            "last_aligned": None,  # round
        }

    clients, result = _Clients(make), Restated(setup.sizes)

    def due(c: int, t: int) -> bool:
        """Decision 13."""
        s = clients[c]
        if fsl.align_staleness == "participations":
            return s["participations"] % l_rounds == 0
        return s["last_aligned"] is None or t - s["last_aligned"] >= l_rounds

    def serve_and_store(up: _Upload) -> None:
        _serve(server, server_opt, up, losses)
        s = clients[up.client]
        z_all, y_all = s["store"]
        s["store"] = (
            torch.cat([z_all, up.z])[-fsl.store_size :],
            torch.cat([y_all, up.y])[-fsl.store_size :],
        )

    def first_upload(c: int, t: int, z: torch.Tensor, y: torch.Tensor) -> None:
        """Iteration 0's upload and server step, then the alignment if one is due."""
        s = clients[c]
        serve_and_store(_Upload(c, z.detach(), y))
        if due(c, t):
            _align(setup, c, t, s["fitted"], s["fitted_opt"], server, s["store"])
            s["aux"].load_state_dict(s["fitted"].state_dict())
            s["last_aligned"] = t
            aligned.append(c)
        s["participations"] += 1

    def client_turn(c: int, z_first: torch.Tensor, batches: list) -> list[_Upload]:
        """The client's iterations; returns the uploads after iteration 0's."""
        s, later = clients[c], []
        for it, (x, y) in enumerate(batches):
            s["opt"].zero_grad()
            z = z_first if it == 0 else s["model"](x)
            aux_loss, grad = _aux_cut_grad(s["aux"], z, y, graph=False)
            z.backward(grad)
            s["opt"].step()
            losses.add_aux(c, aux_loss, len(y))
            if it and it % q == 0:
                later.append(_Upload(c, z.detach(), y))
        return later

    for t in range(setup.cfg.rounds):
        chosen, losses = setup.participants(t), _Losses(len(setup.sizes))
        batches = {c: setup.batches(c, t) for c in chosen}
        first: dict[int, torch.Tensor] = {}
        aligned: list[int] = []
        for c in chosen:
            clients[c]["model"].load_state_dict(g_client.state_dict())
            first[c] = clients[c]["model"](batches[c][0][0])
        if fsl.server_order == "client_major":
            for c in chosen:
                first_upload(c, t, first[c], batches[c][0][1])
                for up in client_turn(c, first[c], batches[c]):
                    serve_and_store(up)
        else:  # slot 0 of every client first: each client's aux is fitted before it steps
            for c in chosen:
                first_upload(c, t, first[c], batches[c][0][1])
            later = [up for c in chosen for up in client_turn(c, first[c], batches[c])]
            slots = [0] * len(later)
            for c in chosen:  # each client's later uploads, in its own order: slots 1, 2, ...
                mine = [i for i, up in enumerate(later) if up.client == c]
                for slot, i in enumerate(mine, start=1):
                    slots[i] = slot
            for up in _server_order(setup, later, slots):
                serve_and_store(up)
        average({c: clients[c]["model"] for c in chosen}, setup.sizes, g_client)
        result.rounds.append(
            {"participants": chosen, "aligned": sorted(aligned)}
            | losses.record()
            | evaluate(setup, g_client, server)
        )
    return _finish(result, g_client, server)


def restate(cfg: Config) -> Restated:
    """Run `cfg`'s algorithm as re-stated here, on as many intra-op threads as each of the
    package's ranks uses (a kernel's float order may depend on its thread count)."""
    if cfg.runtime.threads_per_rank < 1:
        raise ValueError("restate needs an explicit runtime.threads_per_rank to match")
    if cfg.wire.activation_dtype != "fp32" or cfg.model.name == "gpt2":
        raise NotImplementedError("re-stated for fp32 activations and classifiers")
    setup = _Setup(cfg)
    runs = {
        "fedavg": lambda: fedavg(setup),
        "splitfed_v1": lambda: splitfed(setup, per_client_server=True),
        "splitfed_v2": lambda: splitfed(setup, per_client_server=False),
        "cse_fsl": lambda: cse_fsl(setup),
        "fsl_sage": lambda: fsl_sage(setup),
    }
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.runtime.threads_per_rank)
    try:
        return runs[cfg.algorithm]()
    finally:
        torch.set_num_threads(threads)
