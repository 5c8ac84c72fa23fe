import jax
import pytest
from factories import small_paired

from stereo_ppl.compare import choose_c, compare_c
from stereo_ppl.io import save_paired
from stereo_ppl.sweep import SweepConfig, run_sweep


@pytest.mark.slow
def test_comparison_picks_the_rank_that_generated_the_data(tmp_path):
    # rank-3 truth with noise; 40 stars, half held out (as the sweep tests, so
    # JAX compiles the shared c values once per session)
    paired = save_paired(small_paired(0, num_stars=40, rank=3), tmp_path / "P.nc")
    report = run_sweep(
        jax.random.key(0),
        paired,
        tmp_path / "d",
        num_latents=[1, 2, 3, 5],
        # 20 training stars are too few to learn the calibration: the seed's model
        config=SweepConfig(
            method="exact", heldout_fraction=0.5, options={"noise": "reported", "prior": "unit"}
        ),
        log=lambda line: None,
    )
    comparison = compare_c(report.table)
    assert comparison.index[0] == "c=3"
    assert choose_c(comparison) == 3
    # a larger c fits noise: worse by more than two standard errors of the difference
    assert comparison.loc["c=5", "elpd_diff"] < -2 * comparison.loc["c=5", "dse"]
    # smaller c miss structure; with 20 held-out stars the evidence is weaker but clear
    for c in (1, 2):
        assert comparison.loc[f"c={c}", "p_worse"] > 0.9
