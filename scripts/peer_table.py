#!/usr/bin/env python3
"""Build the README's benchmark table from JSON lines of Stein (`bench_report`) and a peer (`jax_bench.py`),
taken in one run on one machine:

    cargo run --release --example bench_report > /tmp/stein.jsonl
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE JAX_ENABLE_X64=1 python3 ../shared/peers/jax_bench.py > /tmp/jax.jsonl
    python3 scripts/peer_table.py /tmp/stein.jsonl /tmp/jax.jsonl
"""
import json
import sys


def load(path):
    out = {}
    for line in open(path):
        line = line.strip()
        if line.startswith("{"):
            d = json.loads(line)
            out[(d["task"], str(d["param"]), d["metric"])] = d["value"]
    return out


def us(v):
    return f"{v / 1000:.2f} µs" if v < 1e6 else f"{v / 1e6:.2f} ms"


stein, peer = load(sys.argv[1]), load(sys.argv[2])
rows = [
    ("T1 rosenbrock d=2, value+grad", ("T1", "2", "value_grad_ns"), ("T1", "2", "value_grad_ns")),
    ("T1 rosenbrock d=10, value+grad", ("T1", "10", "value_grad_ns"), ("T1", "10", "value_grad_ns")),
    ("T1 rosenbrock d=100, value+grad", ("T1", "100", "value_grad_ns"), ("T1", "100", "value_grad_ns")),
    ("T1 rosenbrock d=1000, value+grad (scalar loop)", ("T1", "1000", "value_grad_ns"), ("T1", "1000", "value_grad_ns")),
    ("T1 rosenbrock d=1000, value+grad (tensor ops)", ("T1", "1000", "tensor_value_grad_ns"), ("T1", "1000", "value_grad_ns")),
    ("T2 gmm-10, value+grad (autodiff)", ("T2", "10", "value_grad_ns"), ("T2", "10", "value_grad_ns")),
    ("T2 gmm-10, analytic score (scores crate)", ("T2", "10", "scores_analytic_ns"), ("T2", "10", "value_grad_ns")),
    ("T3 logreg, value+grad (tensor ops)", ("T3", "25", "tensor_value_grad_ns"), ("T3", "25", "value_grad_ns")),
    ("T4 Laplacian rosenbrock-10", ("T4", "rosenbrock-10", "laplacian_ns"), ("T4", "rosenbrock-10", "laplacian_ns")),
    ("T4 Laplacian gmm-10", ("T4", "gmm-10", "laplacian_ns"), ("T4", "gmm-10", "laplacian_ns")),
]
print("| task | Stein | JAX-jit | JAX / Stein |")
print("|---|---|---|---|")
for name, sk, pk in rows:
    if sk in stein and pk in peer:
        s, p = stein[sk], peer[pk]
        print(f"| {name} | {us(s)} | {us(p)} | {p / s:.2f}× |")
print()
print("| Stein's own ratios | value |")
print("|---|---|")
for d in ("10", "100", "1000"):
    k = ("T1", d, "grad_over_primal")
    if k in stein:
        print(f"| T1 d={d}: value+grad / f64 primal (scalar loop) | {stein[k]:.1f}× |")
k = ("T1", "1000", "tensor_grad_over_primal")
if k in stein:
    print(f"| T1 d=1000: value+grad (tensor ops) / f64 primal | {stein[k]:.1f}× |")
k = ("T1", "1000", "ns_per_node")
if k in stein:
    print(f"| T1 d=1000: ns per tape node (forward + backward) | {stein[k]:.2f} ns |")
k = ("T3", "25", "tensor_grad_over_primal")
if k in stein:
    print(f"| T3: value+grad (tensor ops) / f64 primal | {stein[k]:.2f}× |")
for k, name in ((("T2", "100000", "score_batch_speedup"), "score_batch, 100,000 points: 2 threads / 1 thread"),):
    if k in stein:
        print(f"| {name} | {stein[k]:.2f}× |")
