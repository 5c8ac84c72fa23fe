import arviz_stats
import numpy as np
import pytest
import xarray as xr
from arviz_stats.utils import ELPDData

from stereo_ppl.compare import (
    choose_c,
    compare_c,
    elpd_by_c,
    elpd_per_repeat,
    model_name,
    stacking_weights,
)
from stereo_ppl.errors import StereoPPLError


def test_comparison_uses_paired_per_star_differences(synthetic_table):
    table = synthetic_table()
    comparison = compare_c(table)
    assert list(comparison.index) == [model_name(c) for c in (8, 4, 2, 1)]
    assert comparison["rank"].tolist() == [0, 1, 2, 3]
    held = table["lpd"].values[:, 0, table["heldout"].values]  # repeat 0 has the best train
    diff = held[2] - held[3]  # c=4 against the best, c=8
    row = comparison.loc["c=4"]
    np.testing.assert_allclose(row["elpd_diff"], diff.sum(), rtol=1e-10)
    np.testing.assert_allclose(row["dse"], np.sqrt(diff.size * diff.var()), rtol=1e-10)
    np.testing.assert_allclose(row["elpd"], held[2].sum(), rtol=1e-12)
    # the shared star-to-star spread makes se large but leaves dse small
    assert row["se"] > 50 * row["dse"]
    assert comparison["score"].unique().tolist() == ["heldout"]
    np.testing.assert_allclose(comparison["weight"].sum(), 1.0, rtol=1e-6)


def test_one_se_rule_picks_the_smallest_c_close_to_the_best(synthetic_table):
    comparison = compare_c(synthetic_table())
    assert choose_c(comparison, rule="best") == 8
    assert choose_c(comparison) == 4  # c=4 and c=8 differ by 0.05 per star, within noise
    with pytest.raises(StereoPPLError, match="rule must be"):
        choose_c(comparison, rule="aic")


def test_repeat_selection(synthetic_table):
    table = synthetic_table()
    held = table["heldout"].values
    best = elpd_by_c(table, repeat="best")[2].elpd_i.values
    np.testing.assert_array_equal(best, table["lpd"].values[1, 0, held])
    second = elpd_by_c(table, repeat=1)[2].elpd_i.values
    np.testing.assert_array_equal(second, table["lpd"].values[1, 1, held])
    mean = elpd_by_c(table, repeat="mean")[2].elpd_i.values
    np.testing.assert_allclose(mean, table["lpd"].values[1, :, held].mean(axis=1))
    totals = elpd_per_repeat(table)
    np.testing.assert_allclose(totals.values[1, 1], second.sum())


def test_missing_fits_are_left_out(synthetic_table):
    table = synthetic_table()
    table["lpd"][0, :, :] = np.nan
    table["lpd"][1, 0, :] = np.nan
    table["train_log_joint"][1, 0] = np.nan
    elpds = elpd_by_c(table)
    assert sorted(elpds) == [2, 4, 8]
    held = table["heldout"].values
    np.testing.assert_array_equal(elpds[2].elpd_i.values, table["lpd"].values[1, 1, held])


def test_unknown_or_unavailable_scores_are_errors(synthetic_table):
    with pytest.raises(StereoPPLError, match="score must be one of"):
        compare_c(synthetic_table(), score="waic")
    with pytest.raises(StereoPPLError, match="no 'loo' scores"):
        compare_c(synthetic_table(), score="loo")


@pytest.mark.core
def test_stacking_weights_agree_with_arviz_where_arviz_does_not_overflow():
    rng = np.random.default_rng(3)
    elpd_i = rng.normal(size=(80, 3)) + np.array([0.0, 0.3, -0.2])
    ours = stacking_weights(elpd_i)
    named = {
        f"m{k}": ELPDData(
            elpd=elpd_i[:, k].sum(),
            se=1.0,
            p=np.nan,
            n_samples=1,
            n_data_points=80,
            scale="log",
            warning=False,
            good_k=None,
            elpd_i=xr.DataArray(elpd_i[:, k], dims=["star"]),
        )
        for k in range(3)
    }
    theirs = arviz_stats.compare(named, method="stacking", round_to="none")["weight"]
    np.testing.assert_allclose(ours, [theirs[f"m{k}"] for k in range(3)], atol=2e-3)
    # and it stays finite where exp(elpd_i) overflows
    big = stacking_weights(elpd_i + 20_000.0)
    np.testing.assert_allclose(big, ours, atol=1e-6)


def test_loo_scores_carry_pareto_k_diagnostics(synthetic_table):
    table = synthetic_table()
    train = ~table["heldout"].values
    shape = table["lpd"].shape
    rng = np.random.default_rng(5)
    loo = np.where(train, table["lpd"].values - 1.0, np.nan)
    k = np.where(train, rng.uniform(0.0, 0.6, size=shape), np.nan)
    k[2, 0, np.flatnonzero(train)[:3]] = 0.9  # three bad stars for c=4, repeat 0
    table = table.assign(
        loo_elpd_i=(("num_latent", "repeat", "star"), loo),
        pareto_k=(("num_latent", "repeat", "star"), k),
        good_k=(("num_latent", "repeat"), np.full(shape[:2], 0.7)),
        p_loo=(("num_latent", "repeat"), np.full(shape[:2], 12.5)),
    )
    comparison = compare_c(table)  # "auto" prefers LOO when the fits have draws
    assert comparison["score"].iloc[0] == "loo"
    assert comparison.loc["c=4", "diag_elpd"] == "3 k̂ > 0.70"
    assert comparison.loc["c=8", "diag_elpd"] == ""
    assert (comparison["p"] == 12.5).all()
    np.testing.assert_allclose(comparison.loc["c=8", "elpd"], np.nansum(loo[3, 0]), rtol=1e-12)
