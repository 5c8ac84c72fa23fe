import matplotlib
import numpy as np

from stereo_ppl.compare import choose_c, compare_c
from stereo_ppl.plots import plot_score_vs_c

matplotlib.use("Agg")


def test_score_vs_c_shows_every_repeat_on_a_log_axis(synthetic_table):
    table = synthetic_table()
    comparison = compare_c(table)
    fig = plot_score_vs_c(table, comparison, chosen=choose_c(comparison))
    left, right = fig.axes
    assert left.get_xscale() == "log" and right.get_xscale() == "log"
    dots = [line for line in right.lines if line.get_marker() == "o"]
    assert len(dots) == 2  # one per repeat
    best = float(comparison.loc["c=8", "elpd"])
    np.testing.assert_allclose(
        dots[1].get_ydata(), table["lpd"].values[:, 1, table["heldout"].values].sum(1) - best
    )
    assert [t.get_text() for t in right.get_xticklabels()] == ["1", "2", "4", "8"]
    assert any("chosen c = 4" in t.get_text() for t in right.get_legend().get_texts())
