"""Nothing in the package that pickles or unpickles can be reached from the wire (a static scan).

Every import, name and attribute of each package file is resolved through the file's imports
(`from torch import load as L` makes `L` torch.load, `import torch.distributed as d` makes
`d.recv_object_list` what it is), and flagged if it pickles: a pickling module, torch.save or
torch.load, a torch.distributed `*_object*` op, numpy.load allowing pickles, a multiprocessing
(or torch.multiprocessing) connection, queue, manager or pool, a process pool, and a
Connection's `.recv()`. Only the files in MAY_PICKLE may, each only what its entry names, and
every torch.load in them must pass `weights_only=True` literally. A run in which unpickling
raises in every process is test_network_trust.py's.
"""

from __future__ import annotations

import ast
from typing import NamedTuple

import pytest

from harness import OBJECT_OPS, ROOT

PACKAGE = ROOT / "fsl_sage_dist"
PICKLING_MODULES = {
    "pickle",
    "_pickle",
    "cPickle",
    "dill",
    "cloudpickle",
    "marshal",
    "shelve",
    "joblib",
    "copyreg",
    "submitit",
}
TORCH_SERIALIZATION = {
    "torch.save": "torch.save",
    "torch.load": "torch.load",
    "torch.serialization.save": "torch.save",
    "torch.serialization.load": "torch.load",
}
MULTIPROCESSING_PICKLERS = (
    "multiprocessing.connection",
    "multiprocessing.Pipe",
    "multiprocessing.Queue",
    "multiprocessing.SimpleQueue",
    "multiprocessing.JoinableQueue",
    "multiprocessing.queues",
    "multiprocessing.Manager",
    "multiprocessing.managers",
    "multiprocessing.Pool",
    "multiprocessing.pool",
    "multiprocessing.reduction",
    "concurrent.futures.ProcessPoolExecutor",
    "concurrent.futures.process",
)
"""Objects that cross a process boundary through these are pickled on one side and unpickled
on the other (torch.multiprocessing re-exports multiprocessing: it is checked as the same)."""
UNSAFE_LOAD = "torch.load without weights_only=True"


class Allowance(NamedTuple):
    uses: frozenset[str]
    why: str


MAY_PICKLE = {
    "submit.py": Allowance(
        frozenset({"submitit"}), "submitit pickles the rank function into the Slurm job folder"
    ),
    "checkpoint.py": Allowance(
        frozenset({"torch.save", "torch.load"}),
        "torch.save of tensor dicts to RUN_DIR, read back with weights_only=True",
    ),
    "report/recorder.py": Allowance(
        frozenset({"torch.save"}), "torch.save of the final weights to RUN_DIR"
    ),
    "client_store.py": Allowance(
        frozenset({"torch.save", "torch.load"}),
        "torch.save of spilled client state to local disk, read back with "
        "weights_only=True after its SHA-256 is checked",
    ),
}
"""Files that may pickle, what each may use, and why none of it reaches the wire."""


def _bindings(tree: ast.Module) -> dict[str, str]:
    """Each name a file's imports bind (anywhere in it), and the dotted name it stands for."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                root = alias.name.split(".")[0]
                names[alias.asname or root] = alias.name if alias.asname else root
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _dotted(node: ast.AST, names: dict[str, str]) -> str | None:
    if isinstance(node, ast.Name):
        return names.get(node.id, node.id)
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value, names)
        return f"{base}.{node.attr}" if base else None
    return None


def _what(dotted: str) -> str | None:
    """What a dotted name pickles with, or None."""
    dotted = dotted.removeprefix("torch.") if dotted.startswith("torch.multiprocessing") else dotted
    last = dotted.rsplit(".", 1)[-1]
    if dotted.split(".")[0] in PICKLING_MODULES:
        return dotted.split(".")[0]
    if dotted in TORCH_SERIALIZATION:
        return TORCH_SERIALIZATION[dotted]
    if last in OBJECT_OPS or (dotted.startswith("torch.distributed.") and "object" in last):
        return last
    for prefix in MULTIPROCESSING_PICKLERS:
        if dotted == prefix or dotted.startswith(prefix + "."):
            return prefix
    return None


def _is_true(call: ast.Call, keyword: str) -> bool:
    return any(
        k.arg == keyword and isinstance(k.value, ast.Constant) and k.value.value is True
        for k in call.keywords
    )


def _may_allow_pickle(call: ast.Call) -> bool:
    """numpy.load's allow_pickle is anything but a literal False (or hidden in **kwargs)."""
    for k in call.keywords:
        if k.arg is None:
            return True
        if k.arg == "allow_pickle":
            return not (isinstance(k.value, ast.Constant) and k.value.value is False)
    return len(call.args) > 2  # load(file, mmap_mode, allow_pickle, ...)


def pickling_uses(source: str) -> set[tuple[int, str]]:
    """(line, what) for every use in `source` that pickles or unpickles."""
    tree = ast.parse(source)
    names = _bindings(tree)
    calls = {id(node.func): node for node in ast.walk(tree) if isinstance(node, ast.Call)}
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            targets = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, (ast.Name, ast.Attribute)):
            targets = [_dotted(node, names) or ""]
        elif isinstance(node, ast.Constant) and node.value in OBJECT_OPS:
            targets = [f"getattr.{node.value}"]  # getattr(dist, "recv_object_list")
        else:
            continue
        call = calls.get(id(node))
        reference = isinstance(node, (ast.Name, ast.Attribute))  # not the import binding it
        for target in targets:
            what = _what(target)
            if what == "torch.load" and reference and not (call and _is_true(call, "weights_only")):
                what = UNSAFE_LOAD
            if target == "numpy.load" and call and _may_allow_pickle(call):
                what = "numpy.load(allow_pickle=True)"
            if what:
                found.add((node.lineno, what))
        if isinstance(node, ast.Attribute) and node.attr == "recv" and call and not call.args:
            found.add((node.lineno, "Connection.recv()"))  # a socket's recv takes a size
    return found


MUST_FLAG = {
    "import pickle": "pickle",
    "import pickle as p\np.loads(b)": "pickle",
    "from pickle import loads": "pickle",
    "import _pickle": "_pickle",
    "import cPickle": "cPickle",
    "import dill": "dill",
    "from cloudpickle import dumps": "cloudpickle",
    "import marshal": "marshal",
    "import shelve": "shelve",
    "from joblib import load": "joblib",
    "import submitit": "submitit",
    "import torch\ntorch.save(x, f)": "torch.save",
    "from torch import save\nsave(x, f)": "torch.save",
    "from torch import save as keep\nkeep(x, f)": "torch.save",
    "import torch\ntorch.load(f, weights_only=True)": "torch.load",
    "from torch import load\nload(f, weights_only=True)": "torch.load",
    "import torch\ntorch.load(f)": UNSAFE_LOAD,
    "import torch\ntorch.load(f, weights_only=False)": UNSAFE_LOAD,
    "import torch\ntorch.load(f, weights_only=flag)": UNSAFE_LOAD,
    "import torch\nload = torch.load\nload(f, weights_only=True)": UNSAFE_LOAD,
    "from torch import load\nload(f)": UNSAFE_LOAD,
    "from torch import load as L\nL(f)": UNSAFE_LOAD,
    "from torch import load as L\nL(f, weights_only=True)\nL(g)": UNSAFE_LOAD,
    "import torch as T\nT.load(f)": UNSAFE_LOAD,
    "from torch.serialization import load\nload(f)": UNSAFE_LOAD,
    "import torch.distributed as dist\ndist.broadcast_object_list(o)": "broadcast_object_list",
    "import torch.distributed as d\nd.recv_object_list(o)": "recv_object_list",
    "from torch.distributed import recv_object_list as r\nr(o)": "recv_object_list",
    "from torch.distributed import send_object_list\nsend_object_list(o, 1)": "send_object_list",
    "import torch\ntorch.distributed.all_gather_object(o, x)": "all_gather_object",
    "from torch import distributed\ndistributed.gather_object(x)": "gather_object",
    "from torch.distributed import distributed_c10d as c\nc.scatter_object_list(o, i)": (
        "scatter_object_list"
    ),
    "from torch.distributed.distributed_c10d import _object_to_tensor": "_object_to_tensor",
    "self.group.broadcast_object_list(o)": "broadcast_object_list",
    "getattr(dist, 'recv_object_list')(o)": "recv_object_list",
    "import numpy as np\nnp.load(f, allow_pickle=True)": "numpy.load(allow_pickle=True)",
    "import numpy\nnumpy.load(f, allow_pickle=flag)": "numpy.load(allow_pickle=True)",
    "from numpy import load\nload(f, **options)": "numpy.load(allow_pickle=True)",
    "from numpy import load as L\nL(f, allow_pickle=True)": "numpy.load(allow_pickle=True)",
    "import numpy as xp\nxp.load(f, None, True)": "numpy.load(allow_pickle=True)",
    "import multiprocessing.connection": "multiprocessing.connection",
    "from multiprocessing.connection import Client": "multiprocessing.connection",
    "from multiprocessing import Pipe": "multiprocessing.Pipe",
    "import multiprocessing as mp\nq = mp.Queue()": "multiprocessing.Queue",
    "import multiprocessing\nmultiprocessing.SimpleQueue()": "multiprocessing.SimpleQueue",
    "from multiprocessing import Manager": "multiprocessing.Manager",
    "import torch.multiprocessing as tmp\ntmp.Queue()": "multiprocessing.Queue",
    "from torch.multiprocessing import Pipe": "multiprocessing.Pipe",
    "from torch import multiprocessing\nmultiprocessing.Pipe()": "multiprocessing.Pipe",
    "from concurrent.futures import ProcessPoolExecutor": "concurrent.futures.ProcessPoolExecutor",
    "message = conn.recv()": "Connection.recv()",
}
"""Snippets the scan must flag, and what it must call the use."""

MUST_PASS = [
    "import numpy as np\nnp.load(f)",
    "import numpy as np\nnp.load(f, allow_pickle=False)",
    "import numpy as np\nnp.save(f, a, allow_pickle=False)",
    "import torch.distributed as dist\ndist.broadcast(t, 0)\ndist.recv(t, 1)",
    "import torch\ntorch.distributed.all_gather(ts, t)",
    "data = sock.recv(4096)",
    "from concurrent.futures import ThreadPoolExecutor",
    "import multiprocessing\nmultiprocessing.cpu_count()",
    "import torch.multiprocessing as mp\nmp.get_start_method()",
    "import json\njson.loads(s)",
    '"""Nothing here is pickled; torch.load is not called."""',
    "load(f)",  # a name that no import binds to torch.load
    "from .checkpoint import load",
]
"""Snippets the scan must not flag."""


@pytest.mark.parametrize("source, what", MUST_FLAG.items(), ids=list(MUST_FLAG))
def test_the_scan_flags(source, what):
    """What it calls the use, and nothing else but the import that binds torch.load."""
    found = {w for _, w in pickling_uses(source)}
    assert what in found and found - {"torch.load"} == {what} - {"torch.load"}, found


@pytest.mark.parametrize("source", MUST_PASS, ids=MUST_PASS)
def test_the_scan_passes(source):
    assert not pickling_uses(source)


def test_the_scan_gives_the_line():
    assert pickling_uses("import os\n\nimport pickle\n") == {(3, "pickle")}


def test_nothing_that_pickles_is_reachable_from_the_wire():
    """Outside MAY_PICKLE nothing pickles; inside, only what each entry names, each of it still
    in use (an entry that allows what its file no longer does is stale)."""
    offenders, unused = {}, {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = str(path.relative_to(PACKAGE))
        uses = pickling_uses(path.read_text())
        allowed = MAY_PICKLE[name].uses if name in MAY_PICKLE else frozenset()
        if bad := sorted((line, what) for line, what in uses if what not in allowed):
            offenders[name] = bad
        if missing := allowed - {what for _, what in uses}:
            unused[name] = sorted(missing)
    assert not offenders, offenders
    assert not unused, f"MAY_PICKLE allows what these files no longer use: {unused}"
    assert all((PACKAGE / name).exists() for name in MAY_PICKLE)
