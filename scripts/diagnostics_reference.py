"""Reference values for models/tests/diagnostics_reference.rs: draws and what ArviZ (an independent
implementation of Vehtari et al. 2021, the algorithm Stan uses) computes from them.

Run: python3 scripts/diagnostics_reference.py > models/tests/data/diagnostics_reference.json
(needs numpy, scipy and arviz; the file is committed, so the tests do not need Python).
"""
import json
import warnings

import numpy as np

warnings.filterwarnings("ignore")
import arviz as az  # noqa: E402
from arviz.stats.diagnostics import _mcse_quantile  # noqa: E402

rng = np.random.default_rng(20261202)
C, N = 4, 300


def ar1(a, shape, noise=rng.standard_normal):
    e = noise(shape)
    x = np.zeros(shape)
    x[:, 0] = e[:, 0]
    for t in range(1, shape[1]):
        x[:, t] = a * x[:, t - 1] + e[:, t]
    return x


series = {
    "iid normal": rng.standard_normal((C, N)),
    "ar1 0.9": ar1(0.9, (C, N)),
    "ar1 -0.6 (antithetic)": ar1(-0.6, (C, N)),
    "chains apart": ar1(0.5, (C, N)) + np.array([[0.0], [0.0], [0.8], [1.6]]),
    "heavy tails": ar1(0.5, (C, N), lambda s: rng.standard_t(2.0, s)),
    "discrete (ties)": rng.poisson(3.0, (C, N)).astype(float),
    "odd length": ar1(0.3, (C, N - 1)),
}

out = []
for name, x in series.items():
    out.append({
        "name": name,
        "draws": x.tolist(),
        "ess_bulk": float(az.ess(x, method="bulk")),
        "ess_tail": float(az.ess(x, method="tail")),
        "ess_mean": float(az.ess(x, method="mean")),
        "ess_q05": float(az.ess(x, method="quantile", prob=0.05)),
        "rhat": float(az.rhat(x, method="rank")),
        "mcse_mean": float(az.mcse(x, method="mean")),
        "mcse_q05": float(_mcse_quantile(x, 0.05)),
        "mcse_q50": float(_mcse_quantile(x, 0.5)),
        "mcse_q95": float(_mcse_quantile(x, 0.95)),
    })
print(json.dumps({"arviz": az.__version__, "series": out}))
