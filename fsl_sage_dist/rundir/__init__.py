"""RUN_DIR's files as code (DESIGN.md section 6), torch-free: the names (`layout`), the JSON and
JSON-lines formats with their reader and writer (`records`), and the message log (`messages`).

Both sides stand on it: rank 0's writer (`report/`) and the readers that work wherever a RUN_DIR
is copied to (`compare`, `timeline`, the benchmarks). It imports no module of the package above
the leaves (`atomic_write`), so reading a run never loads torch.
"""
