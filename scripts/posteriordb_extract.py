#!/usr/bin/env python3
"""Extract the data and reference summaries of T12's posteriors from a posteriordb git snapshot into
examples/posteriordb/data/<posterior>.json (the files the `posteriordb` example and its CI check read).

    ~/.peers-venv/bin/python scripts/posteriordb_extract.py PDB_GIT_DIR

PDB_GIT_DIR: a git directory of a clone of the public stan-dev/posteriordb repository (read with `git show`).
Each output file: {"posterior", "data": the posterior's data as posteriordb gives it, "reference": {"names",
"mean", "sd", "mcse_mean"}} where the reference is posteriordb's reference draws (10 chains x 1000), MCSE of the
mean = sd / sqrt(bulk ESS) (ArviZ's bulk ESS over the 10 chains), the rule nuts_nutpie's T12 peer applies.
"""
import io
import json
import subprocess
import sys
import zipfile

import arviz as az
import numpy as np

POSTERIORS = [
    "earnings-logearn_interaction",
    "mesquite-logmesquite_logvash",
    "kidiq_with_mom_work-kidscore_interaction_c2",
    "sblri-blr",
    "gp_pois_regr-gp_regr",
    "hudson_lynx_hare-lotka_volterra",
]


def show(repo, path):
    return subprocess.run(["git", "--git-dir", repo, "show", f"HEAD:{path}"], check=True,
                          capture_output=True).stdout


def unzip_json(raw):
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        return json.loads(z.read(z.namelist()[0]))


def main():
    repo = sys.argv[1]
    for name in POSTERIORS:
        info = json.loads(show(repo, f"posterior_database/posteriors/{name}.json"))
        data = unzip_json(show(repo, f"posterior_database/data/data/{info['data_name']}.json.zip"))
        draws = unzip_json(show(repo, f"posterior_database/reference_posteriors/draws/draws/{name}.json.zip"))
        names = list(draws[0].keys())
        ref = {"names": names, "mean": [], "sd": [], "mcse_mean": []}
        for n in names:
            x = np.array([chain[n] for chain in draws], dtype=float)  # chains x draws
            ess = float(az.ess(x, method="bulk"))
            ref["mean"].append(float(x.mean()))
            ref["sd"].append(float(x.std(ddof=1)))
            ref["mcse_mean"].append(float(x.std(ddof=1) / np.sqrt(ess)))
        out = {"posterior": name, "data": data, "reference": ref}
        path = f"examples/posteriordb/data/{name}.json"
        with open(path, "w") as f:
            json.dump(out, f, separators=(",", ":"))
        print(path, {k: (len(v) if isinstance(v, list) else v) for k, v in data.items()}, names)


if __name__ == "__main__":
    main()
