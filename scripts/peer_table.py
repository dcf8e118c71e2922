#!/usr/bin/env python3
"""Build the README's benchmark table from JSON lines of Stein (`bench_report`) and a peer (`jax_bench.py`),
taken in one run on one machine:

    cargo run --release --example bench_report > /tmp/stein.jsonl
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE JAX_ENABLE_X64=1 python3 ../shared/peers/jax_bench.py > /tmp/jax.jsonl
    python3 scripts/peer_table.py /tmp/stein.jsonl /tmp/jax.jsonl [--nuts F] [--nutpie F] [--t12 F] [--torch F] [--t11 F] [--q1 F] [--q2 F]

The optional files are the outputs of `nuts_blackjax.py` (T10), `nuts_nutpie.py` (T10; its diag and lowrank runs
concatenated into one file), `posteriordb_nutpie.py` (T12, diag and lowrank in one file), `torch_bench.py` (PyTorch eager, T5–T8),
`diffusion_torch.py` (T11), `quality_torch.py` (Q1) and `toy2d_torch.py` (Q2), run beside the same `bench_report`.
With only a Stein file (of `bench_report --task Q2` or `--task T10`), only the Q2 and T10 tables asked for are printed.
"""
import json
import re
import sys

args = sys.argv[1:]
extra = {}
while len(args) > 2 and args[-2].startswith("--"):
    extra[args[-2][2:]] = args[-1]
    args = args[:-2]


def load(path):
    out = {}
    for line in open(path):
        line = line.strip()
        if line.startswith("{"):
            d = json.loads(line)
            out[(d["task"], str(d["param"]), d["metric"])] = d["value"]
    return out


def first(figures, task, metric):
    """The figure of `task` and `metric` whatever its param (a peer's own label), or None."""
    return next((v for (t, _, m), v in figures.items() if t == task and m == metric), None)


def us(v, unit="ns"):
    if unit == "ms":
        return f"{v:.2f} ms"
    return f"{v / 1000:.2f} µs" if v < 1e6 else f"{v / 1e6:.2f} ms"


def q2_table():
    """The Q2 tables: Stein's two default recipes beside `toy2d_torch.py` on the seven toy sets."""
    q2 = load(extra["q2"])
    sets = ("two-moons", "8gaussians", "swiss-roll", "checkerboard", "rings", "pinwheel", "spirals")
    sk = lambda name, m: stein.get(("Q2", name, m))
    pk = lambda name, m: q2.get(("Q2", name, m))
    num = lambda v, f: "–" if v is None else format(v, f)

    def kl(v, se, dominated=None):
        if v is None:
            return "–"
        flag = " (a few points decide it)" if dominated else ""
        return f"{v:.3f} ± {num(se, '.3f')}{flag}"

    print()
    print("| Q2 set | PyTorch diffusion, 10k steps: KL / outside / train | Stein diffusion (default recipe): "
          "KL / outside / train | Stein energy model (default recipe): KL / outside / train |")
    print("|---|---|---|---|")
    for name in sets:
        if sk(name, "diffusion_kl") is None:
            continue
        print(f"| {name} | {num(pk(name, 'kl'), '.3f')} / {num(pk(name, 'outside'), '.3f')} / "
              f"{num(pk(name, 'train_s'), '.0f')} s | "
              f"{kl(sk(name, 'diffusion_kl'), sk(name, 'diffusion_kl_se'), sk(name, 'diffusion_kl_dominated'))} / "
              f"{sk(name, 'diffusion_outside'):.3f} / {sk(name, 'diffusion_train_s'):.0f} s | "
              f"{kl(sk(name, 'energy_kl'), sk(name, 'energy_kl_se'), sk(name, 'energy_kl_dominated'))} / "
              f"{sk(name, 'energy_outside'):.3f} / {sk(name, 'energy_train_s'):.0f} s |")
    print()
    print("| Q2 set | NLL time (ODE evaluations): PyTorch / Stein | MMD² (bw 0.2): PyTorch / Stein diffusion / "
          "Stein energy | Stein energy: log Z by AIS, se (ESS of 1,000), time |")
    print("|---|---|---|---|")
    notes = {}
    for line in open(extra["q2"]):
        if '"nll_s"' in line:
            d = json.loads(line)
            m = re.search(r"([\d,]+) evaluations", d.get("note", ""))
            notes[d["param"]] = m.group(1) if m else "–"
    for name in sets:
        if sk(name, "diffusion_kl") is None:
            continue
        print(f"| {name} | {num(pk(name, 'nll_s'), '.2f')} s ({notes.get(name, '–')}) / "
              f"{sk(name, 'diffusion_nll_s'):.2f} s ({sk(name, 'diffusion_nll_evaluations'):.0f}) | "
              f"{num(pk(name, 'mmd2'), '.4f')} / {sk(name, 'diffusion_mmd2'):.4f} / {sk(name, 'energy_mmd2'):.4f} | "
              f"{num(sk(name, 'energy_log_z_se'), '.3f')} ({num(sk(name, 'energy_log_z_ess'), '.0f')}), "
              f"{num(sk(name, 'energy_ais_s'), '.1f')} s |")


def nutpie_variants(path):
    """The figures of a file of nutpie runs (diag and lowrank lines, any backend), by variant."""
    by_peer = {}
    for line in open(path):
        if line.strip().startswith("{"):
            d = json.loads(line)
            by_peer.setdefault(d["peer"], {})[(d["task"], str(d["param"]), d["metric"])] = d["value"]
    pick = lambda tag: next((v for k, v in by_peer.items() if tag in k), {})
    return pick("diag"), pick("lowrank")


def t12_table():
    """T12: posteriordb's regressions beside nutpie (`--t12 F`: posteriordb_nutpie.py's diag and lowrank lines)."""
    diag, low = nutpie_variants(extra["t12"])
    names = []
    for (t, n, m) in stein:
        if t == "T12" and n not in names:
            names.append(n)
    if not names:
        return
    print()
    print("| T12: posteriordb, 4 chains × (1,000 + 1,000): min bulk ESS per second (leapfrog steps per draw) | "
          "Stein, diagonal fit (default) | Stein, dense fit, Pathfinder starts | Stein, low-rank fit, Pathfinder starts | nutpie diagonal | "
          "nutpie low-rank | Stein's best / nutpie's best |")
    print("|---|---|---|---|---|---|---|")
    ok = lambda task, n: stein[(task, n, "max_abs_z")] <= 4 and stein[(task, n, "worst_sd_ratio")] <= 0.1
    def cell(f, task, n, check=False):
        if (task, n, "min_ess_per_s") not in f:
            return "–"
        c = f"{f[(task, n, 'min_ess_per_s')]:.0f} ({f[(task, n, 'leapfrog_per_draw')]:.1f})"
        if check and not ok(task, n):
            c += f", disagrees with the reference: {f[(task, n, 'divergences')]:.0f} divergences"
        return c
    ratios = []
    for n in names:
        best = max(f.get(("T12", n, "min_ess_per_s"), 0.0) for f in (diag, low))
        mine = max(stein[(t, n, "min_ess_per_s")] for t in ("T12", "T12-dense", "T12-lowrank")
                   if (t, n, "min_ess_per_s") in stein and ok(t, n))
        ratios.append(mine / best)
        print(f"| {n} | {cell(stein, 'T12', n, True)} | {cell(stein, 'T12-dense', n, True)} | "
              f"{cell(stein, 'T12-lowrank', n, True)} | {cell(diag, 'T12', n)} | {cell(low, 'T12', n)} | "
              f"{mine / best:.2f}× |")
    ratios.sort()
    k = len(ratios)
    med = ratios[k // 2] if k % 2 else 0.5 * (ratios[k // 2 - 1] + ratios[k // 2])
    print(f"| median | | | | | | {med:.2f}× |")


def t10_tables():
    """T10 beside BlackJAX (`--nuts`) and beside nutpie (`--nutpie`)."""
    if "nuts" in extra:
        nuts = load(extra["nuts"])
        print()
        print("| T10: NUTS, 4 chains × (1,000 warm-up + 1,000), BlackJAX's U-turn checks | Stein | BlackJAX | Stein / BlackJAX |")
        print("|---|---|---|---|")
        for task, dim, name in (("T10a", "100", "T10a 100-d Gaussian"), ("T10b", "25", "T10b logistic regression")):
            s_ess, p_ess = stein.get((task, dim, "min_ess_per_s")), nuts.get((task, dim, "min_ess_per_s"))
            if s_ess is None or p_ess is None:
                continue
            print(f"| {name}: min ESS per second | {s_ess:.0f} | {p_ess:.0f} | {s_ess / p_ess:.2f}× |")
            print(f"| {name}: wall time | {stein[(task, dim, 'wall_s')]:.2f} s | {nuts[(task, dim, 'wall_s')]:.2f} s | "
                  f"{nuts[(task, dim, 'wall_s')] / stein[(task, dim, 'wall_s')]:.2f}× faster |")
            print(f"| {name}: leapfrog steps per draw | {stein[(task, dim, 'leapfrog_per_draw')]:.1f} | "
                  f"{nuts[(task, dim, 'leapfrog_per_draw')]:.1f} | |")
            print(f"| {name}: divergences | {stein[(task, dim, 'divergences')]:.0f} | "
                  f"{nuts[(task, dim, 'divergences')]:.0f} | |")
            stan = stein.get((task + "-stan", dim, "min_ess_per_s"))
            if stan is not None:
                print(f"| {name}, Stan's U-turn checks: min ESS per second (leapfrog steps per draw) | {stan:.0f} "
                      f"({stein[(task + '-stan', dim, 'leapfrog_per_draw')]:.1f}) | {p_ess:.0f} | {stan / p_ess:.2f}× |")

    if "nutpie" in extra:
        # nutpie's files: one or two runs of nuts_nutpie.py (diag, lowrank), concatenated
        diag, low = nutpie_variants(extra["nutpie"])
        print()
        print("| T10 beside nutpie: NUTS, 4 chains × (1,000 + 1,000), bulk ESS | Stein | nutpie diagonal | "
              "nutpie low-rank | Stein / nutpie's best |")
        print("|---|---|---|---|---|")
        rows = (("T10a", "100", "T10a-stan", "T10a 100-d Gaussian, metric fitted to scores (diagonal)"),
                ("T10a", "100", "T10a-lowrank", "T10a 100-d Gaussian, metric fitted to scores (low-rank)"),
                ("T10b", "25", "T10b-dense", "T10b logistic regression, metric fitted to scores (dense)"),
                ("T10b", "25", "T10b-lowrank", "T10b logistic regression, metric fitted to scores (low-rank)"),
                ("T10b", "25", "T10b-stan", "T10b logistic regression, metric fitted to scores (diagonal)"))
        for task, dim, mine, name in rows:
            s = lambda m: stein.get((mine, dim, m))
            p = lambda f, m: f.get((task, dim, m))
            if s("min_ess_bulk_per_s") is None:
                continue
            best = max(v for v in (p(diag, "min_ess_per_s"), p(low, "min_ess_per_s")) if v is not None)
            fmt = lambda v, f: "–" if v is None else format(v, f)
            print(f"| {name}: min ESS per second | {s('min_ess_bulk_per_s'):.0f} | "
                  f"{fmt(p(diag, 'min_ess_per_s'), '.0f')} | {fmt(p(low, 'min_ess_per_s'), '.0f')} | "
                  f"{s('min_ess_bulk_per_s') / best:.2f}× |")
            print(f"| {name}: leapfrog steps per draw | {s('leapfrog_per_draw'):.1f} | "
                  f"{fmt(p(diag, 'leapfrog_per_draw'), '.1f')} | {fmt(p(low, 'leapfrog_per_draw'), '.1f')} | |")
            print(f"| {name}: wall time | {s('wall_s'):.2f} s | {fmt(p(diag, 'wall_s'), '.2f')} s | "
                  f"{fmt(p(low, 'wall_s'), '.2f')} s | |")
        for task, dim, name in (("T10a", "100", "T10a"), ("T10b", "25", "T10b")):
            w = stein.get((task + "-windows", dim, "min_ess_bulk_per_s"))
            if w is not None:
                print(f"| {name} with Stan's variance windows instead (before the fit to scores): min ESS per second "
                      f"(leapfrog steps per draw) | {w:.0f} ({stein[(task + '-windows', dim, 'leapfrog_per_draw')]:.1f}) "
                      f"| | | |")


stein = load(args[0])
if len(args) == 1:
    t10_tables()
    if "t12" in extra:
        t12_table()
    if "q2" in extra:
        q2_table()
    sys.exit()
peer = load(args[1])
torch = load(extra["torch"]) if "torch" in extra else {}
rows = [
    ("T1 rosenbrock d=2, value+grad", ("T1", "2", "value_grad_ns"), ("T1", "2", "value_grad_ns")),
    ("T1 rosenbrock d=10, value+grad", ("T1", "10", "value_grad_ns"), ("T1", "10", "value_grad_ns")),
    ("T1 rosenbrock d=100, value+grad", ("T1", "100", "value_grad_ns"), ("T1", "100", "value_grad_ns")),
    ("T1 rosenbrock d=100, value+grad (compiled)", ("T1", "100", "compiled_value_grad_ns"), ("T1", "100", "value_grad_ns")),
    ("T1 rosenbrock d=1000, value+grad (scalar loop)", ("T1", "1000", "value_grad_ns"), ("T1", "1000", "value_grad_ns")),
    ("T1 rosenbrock d=1000, value+grad (compiled)", ("T1", "1000", "compiled_value_grad_ns"), ("T1", "1000", "value_grad_ns")),
    ("T1 rosenbrock d=1000, value+grad (tensor ops)", ("T1", "1000", "tensor_value_grad_ns"), ("T1", "1000", "value_grad_ns")),
    ("T1 rosenbrock d=1000, value+grad (tensor form compiled)", ("T1", "1000", "compiled_tensor_value_grad_ns"), ("T1", "1000", "value_grad_ns")),
    ("T2 gmm-10, value+grad (autodiff)", ("T2", "10", "value_grad_ns"), ("T2", "10", "value_grad_ns")),
    ("T2 gmm-10, analytic score (scores crate)", ("T2", "10", "scores_analytic_ns"), ("T2", "10", "value_grad_ns")),
    ("T3 logreg, value+grad (tensor ops)", ("T3", "25", "tensor_value_grad_ns"), ("T3", "25", "value_grad_ns")),
    ("T4 Laplacian rosenbrock-10", ("T4", "rosenbrock-10", "laplacian_ns"), ("T4", "rosenbrock-10", "laplacian_ns")),
    ("T4 Laplacian gmm-10", ("T4", "gmm-10", "laplacian_ns"), ("T4", "gmm-10", "laplacian_ns")),
]
rows += [
    ("T5 dsm-step (score net, batch 512)", ("T5", "512", "step_ms"), ("T5", "512", "step_ms")),
    ("T5e dsm-energy-step", ("T5e", "512", "step_ms"), ("T5e", "512", "step_ms")),
    ("T6 ism-step (exact trace)", ("T6", "512", "step_ms"), ("T6", "512", "step_ms")),
    ("T7 ssm-step", ("T7", "512", "step_ms"), ("T7", "512", "step_ms")),
]
print("| task | Stein | JAX-jit | PyTorch eager | best peer / Stein |")
print("|---|---|---|---|---|")
for name, sk, pk in rows:
    if sk in stein and pk in peer:
        s, p = stein[sk], peer[pk]
        unit = "ms" if sk[2] == "step_ms" else "ns"
        t = torch.get(pk) if sk[2] == "step_ms" else None
        best = min(p, t) if t is not None else p
        print(f"| {name} | {us(s, unit)} | {us(p, unit)} | {us(t, unit) if t is not None else '–'} | {best / s:.2f}× |")
for name, key in (("T8 ula-gmm, 10,000 chains × 1,000 steps (chain-steps/s)", ("T8", "10000x1000", "chain_steps_per_s")),
                  ("T9 mala-autodiff rosenbrock-10 (steps/s)", ("T9", "10", "steps_per_s")),
                  ("T9 mala, compiled gradient (steps/s)", ("T9", "10", "compiled_steps_per_s"))):
    pkey = (key[0], key[1], "steps_per_s") if key[2] == "compiled_steps_per_s" else key
    if key in stein and pkey in peer:
        t = torch.get(pkey)
        best = max(peer[pkey], t) if t is not None else peer[pkey]
        tt = f"{t / 1e6:.2f} M/s" if t is not None else "–"
        print(f"| {name} | {stein[key] / 1e6:.2f} M/s | {peer[pkey] / 1e6:.2f} M/s | {tt} | {stein[key] / best:.2f}× (Stein / best) |")
if torch:
    print()
    print("| network steps in float32 | Stein f32 | JAX-jit f32 | PyTorch f32 | best f32 peer / Stein |")
    print("|---|---|---|---|---|")
    for task in ("T5", "T5e", "T6", "T7"):
        k = (task, "512", "step_ms_f32")
        if k in peer and k in torch:
            best = min(peer[k], torch[k])
            mine = f"{stein[k]:.2f} ms" if k in stein else "–"
            ratio = f"{best / stein[k]:.2f}×" if k in stein else "–"
            print(f"| {task} | {mine} | {peer[k]:.2f} ms | {torch[k]:.2f} ms | {ratio} |")
print()
print("| Stein's own ratios | value |")
print("|---|---|")
for d in ("10", "100", "1000"):
    k = ("T1", d, "grad_over_primal")
    if k in stein:
        print(f"| T1 d={d}: value+grad / f64 primal (scalar loop) | {stein[k]:.1f}× |")
    k = ("T1", d, "compiled_over_primal")
    if k in stein:
        print(f"| T1 d={d}: compiled value+grad / f64 primal | {stein[k]:.1f}× |")
k = ("T1", "1000", "tensor_grad_over_primal")
if k in stein:
    print(f"| T1 d=1000: value+grad (tensor ops) / f64 primal | {stein[k]:.1f}× |")
k = ("T1", "1000", "compiled_tensor_over_primal")
if k in stein:
    print(f"| T1 d=1000: value+grad (tensor form compiled) / f64 primal | {stein[k]:.1f}× |")
k = ("T1", "1000", "ns_per_node")
if k in stein:
    print(f"| T1 d=1000: ns per tape node (forward + backward) | {stein[k]:.2f} ns |")
k = ("T3", "25", "tensor_grad_over_primal")
if k in stein:
    print(f"| T3: value+grad (tensor ops) / f64 primal | {stein[k]:.2f}× |")
for k, name, fmt in (
    (("T2", "100000", "score_batch_speedup"), "score_batch, 100,000 points: 2 threads / 1 thread", "{:.2f}×"),
    (("GEMM", "512x128x128", "gflops_1_thread"), "GEMM 512×128·128×128, 1 thread", "{:.1f} GFLOP/s"),
    (("GEMM", "1024x1024x1024", "gflops_all_threads"), "GEMM 1024³, 2 threads", "{:.1f} GFLOP/s"),
    (("T9", "10", "acceptance"), "T9 MALA acceptance", "{:.3f}"),
    (("ESS", "mala-gauss10", "min_bulk_ess_per_s"), "min bulk ESS/s, MALA, 10-d Gaussian", "{:.0f}"),
    (("ESS", "hmc-gauss10", "min_bulk_ess_per_s"), "min bulk ESS/s, HMC (adapted), 10-d Gaussian", "{:.0f}"),
    (("ESS", "nuts-gauss10", "min_bulk_ess_per_s"), "min bulk ESS/s, NUTS (adapted), 10-d Gaussian", "{:.0f}"),
    (("Q1", "10000", "fisher_div_final"), "Q1 ncsn toy recipe: final Fisher divergence (start {init:.2f})", "{:.3f}"),
    (("Q1", "10000", "wall_s"), "Q1 ncsn toy recipe: wall time, 10,000 steps", "{:.1f} s"),
):
    if k in stein:
        init = stein.get(("Q1", "10000", "fisher_div_init"), float("nan"))
        print(f"| {name.format(init=init)} | {fmt.format(stein[k])} |")

k = ("T8", "10000x1000", "chain_steps_per_s_per_chain")
if k in stein:
    print(f"| T8 with one task per chain (the per-chain driver) | {stein[k] / 1e6:.2f} M chain-steps/s |")

if "q1" in extra:
    # quality_torch.py writes one record with the figures as fields
    q1 = {}
    for line in open(extra["q1"]):
        if line.strip().startswith("{"):
            d = json.loads(line)
            q1.update({("Q1", "", m): d[m] for m in ("wall_s", "fisher_div_final", "fisher_div_init") if m in d})
    print()
    print("| Q1 ncsn toy recipe, 10,000 steps | Stein, constant rate (the recipe) | Stein, cosine-decayed rate | PyTorch f32 |")
    print("|---|---|---|---|")
    pk = lambda m: first(q1, "Q1", m)
    sk = lambda m: stein.get(("Q1", "10000", m))
    print(f"| wall time | {sk('wall_s'):.2f} s | {sk('wall_s_cosine'):.2f} s | {pk('wall_s'):.2f} s |")
    print(f"| final Fisher divergence | {sk('fisher_div_final'):.3f} | {sk('fisher_div_final_cosine'):.3f} | "
          f"{pk('fisher_div_final'):.3f} |")
    if sk("fisher_div_final_5_seeds_mean") is not None:
        print(f"| final Fisher divergence, mean (max) of seeds 0–4 | {sk('fisher_div_final_5_seeds_mean'):.3f} "
              f"({sk('fisher_div_final_5_seeds_max'):.3f}) | | |")

if "t11" in extra:
    t11 = load(extra["t11"])
    pk = lambda m: first(t11, "T11", m)
    sk = lambda p, m: stein.get(("T11", p, m))
    num = lambda v, f: "–" if v is None else format(v, f)
    print()
    print("| T11 diffusion (VP, 10,000 steps, 5,000 samples) | Stein f32 | Stein f64 | PyTorch f32 | PyTorch / Stein f32 |")
    print("|---|---|---|---|---|")
    for m, name in (("train_s", "training"), ("sample_sde_s", "reverse SDE, 1,000 Euler–Maruyama steps"),
                    ("sample_ode_s", "probability-flow ODE, RK45 1e-5"), ("nll_s", "NLL of 1,000 points (ODE, f64)")):
        s32, s64 = sk("f32", m), sk("f64", m)
        ratio = "" if s32 is None else f"{pk(m) / s32:.2f}×"
        print(f"| {name} | {num(s32, '.2f')} s | {num(s64, '.2f')} s | {pk(m):.2f} s | {ratio} |")
    # the peer states its ODE's right-hand-side evaluations in the note of its timing
    notes = [json.loads(l).get("note", "") for l in open(extra["t11"]) if '"nll_s"' in l]
    m = re.search(r"([\d,]+) evaluations", notes[0]) if notes else None
    pe = m.group(1) if m else "–"
    print(f"| NLL: ODE right-hand-side evaluations | {num(sk('f32', 'nll_evaluations'), '.0f')} | "
          f"{num(sk('f64', 'nll_evaluations'), '.0f')} | {pe} | |")
    print(f"| NLL − true NLL (nats) | {num(sk('f32', 'nll_gap'), '.3f')} | {num(sk('f64', 'nll_gap'), '.3f')} | "
          f"{pk('nll') - pk('nll_true'):.3f} | |")
    for m, name in (("mmd2_sde", "MMD² of the SDE samples"), ("mmd2_ode", "MMD² of the ODE samples"),
                    ("mmd2_sde_exact_score", "MMD², SDE with the exact score")):
        print(f"| {name} | {num(sk('f32', m), '.4f')} | {num(sk('f64', m), '.4f')} | {pk(m):.4f} | |")

t10_tables()
if "t12" in extra:
    t12_table()

if "q2" in extra:
    q2_table()
