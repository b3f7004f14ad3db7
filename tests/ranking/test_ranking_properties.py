"""Property tests: relabelling, duplicating cases, a dominating algorithm."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ranking_helpers import config, random_table

from evalkit.ranking import rank_results

SCHEMES = [
    {},
    {"ties": "average"},
    {"scheme": "aggregate-then-rank", "missing_value": {"DSC": 0, "NSD": 0, "RunningTime": 900}},
    {"scheme": "aggregate-then-rank", "aggregate": "median", "missing_value": "drop"},
    {"scheme": "test-then-rank", "missing_value": "drop"},
]

common = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def per_algorithm(r, name_map=None):
    """Algorithm-keyed view of the outputs (task ranks, scores, final, significance, bootstrap)."""
    rename = (lambda s: s.map(name_map)) if name_map else (lambda s: s)
    tr = r.task_ranking.assign(algorithm=rename(r.task_ranking.algorithm))
    fr = r.final_ranking.assign(algorithm=rename(r.final_ranking.algorithm))
    sig = r.significance.assign(
        algorithm=rename(r.significance.algorithm), other=rename(r.significance.other)
    )
    out = {
        "task": tr.set_index(["task", "metric", "algorithm"])[
            ["score", "rank", "n_missing"]
        ].sort_index(),
        "final": fr.set_index("algorithm").sort_index(),
        "sig": sig.set_index(["task", "metric", "algorithm", "other"]).sort_index(),
    }
    if r.bootstrap_ranks is not None:
        br = r.bootstrap_ranks.assign(algorithm=rename(r.bootstrap_ranks.algorithm))
        out["boot"] = br.set_index(["scope", "task", "metric", "algorithm"]).sort_index()
    return out


@common
@given(st.integers(0, 10_000), st.permutations(list(range(5))), st.sampled_from(SCHEMES))
def test_relabelling_algorithms_permutes_the_output(seed, perm, scheme):
    df = random_table(np.random.default_rng(seed), n_alg=5, n_cases=(7, 6), missing=0.05, digits=1)
    # new names sort in a different order than the old ones
    new_names = {f"alg{i}": f"z{p}_{i}" for i, p in enumerate(perm)}
    back = {v: k for k, v in new_names.items()}
    cfg = config(bootstrap_samples=30, **scheme)
    before = per_algorithm(rank_results(df, cfg))
    after = per_algorithm(rank_results(df.assign(algorithm=df.algorithm.map(new_names)), cfg), back)
    for key in before:
        pd.testing.assert_frame_equal(before[key], after[key].loc[before[key].index])


@common
@given(st.integers(0, 10_000), st.sampled_from(SCHEMES[:4]))
def test_duplicating_every_case_leaves_ranks_unchanged(seed, scheme):
    df = random_table(np.random.default_rng(seed), n_alg=4, n_cases=(6, 5), missing=0.05, digits=1)
    twice = pd.concat([df, df.assign(case=df.case + "_copy")], ignore_index=True)
    cfg = config(**scheme)
    one, two = rank_results(df, cfg), rank_results(twice, cfg)
    a = one.task_ranking.set_index(["task", "metric", "algorithm"]).sort_index()
    b = two.task_ranking.set_index(["task", "metric", "algorithm"]).sort_index()
    pd.testing.assert_series_equal(a["rank"], b["rank"])
    np.testing.assert_allclose(a["score"], b["score"], rtol=1e-12)
    assert (b["n_cases"] == 2 * a["n_cases"]).all() and (b["n_missing"] == 2 * a["n_missing"]).all()
    pd.testing.assert_frame_equal(one.final_ranking, two.final_ranking)


@common
@given(st.integers(0, 10_000), st.sampled_from(SCHEMES[:4]), st.booleans())
def test_dominating_algorithm_is_first_with_p_rank1_one(seed, scheme, compat):
    rng = np.random.default_rng(seed)
    df = random_table(rng, n_alg=4, n_cases=(8, 7), missing=0.1, digits=2)
    # strictly better than every other algorithm on every case and metric, never missing
    bounds = df.groupby(["task", "case", "metric"])["value"].agg(["max", "min"]).reset_index()
    best = pd.DataFrame(
        {
            "task": bounds.task,
            "case": bounds.case,
            "algorithm": "best",
            "metric": bounds.metric,
            "value": np.where(bounds.metric == "RunningTime", bounds["min"] - 1, bounds["max"] + 1),
        }
    )
    full = pd.concat([df, best], ignore_index=True)
    r = rank_results(full, config(bootstrap_samples=100, challenger_compat=compat, **scheme))
    assert r.final_ranking.iloc[0]["algorithm"] == "best"
    assert (r.final_ranking["final_rank"] == 1).sum() == 1
    assert (r.task_ranking.loc[r.task_ranking.algorithm == "best", "rank"] == 1).all()
    br = r.bootstrap_ranks[r.bootstrap_ranks.algorithm == "best"]
    assert (br["p_rank1"] == 1.0).all() and (br["median_rank"] == 1).all()
