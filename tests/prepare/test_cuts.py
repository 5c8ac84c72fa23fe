import statistics

import numpy as np
import pytest
from astropy.table import Table

from stereo_ppl.prepare import CUT_NAMES, CatalogueColumnError, Cuts, apply_cuts


def synthetic_catalogue(seed, num_rows=400):
    """A joint catalogue with every kind of failure, in random combinations."""
    rng = np.random.default_rng(seed)
    t = Table()
    t["APOGEE_ID"] = [f"2M{i:08d}+0000000" for i in range(num_rows)]
    t["SNR"] = rng.uniform(100, 700, num_rows)
    t["SNR"][rng.choice(num_rows, 5, replace=False)] = np.nan
    t["snrz"] = rng.uniform(50, 700, num_rows)
    t["STARFLAG"] = rng.choice([0, 0, 0, 4, 1 << 17], num_rows)
    t["ASPCAPFLAG"] = rng.choice([0, 0, 0, 0, 1 << 23], num_rows)
    t["TEFF"] = rng.normal(4700, 250, num_rows)
    t["LOGG"] = rng.normal(2.5, 0.5, num_rows)
    t["FE_H"] = rng.normal(-0.1, 0.2, num_rows)
    for name, outlier in (("TEFF", 8_000.0), ("LOGG", 6.0), ("FE_H", -2.5)):
        t[name][rng.choice(num_rows, 12, replace=False)] = np.nan  # -9999 read back
        t[name][rng.choice(num_rows, 12, replace=False)] = outlier
    t["obsid"] = np.arange(num_rows) + 100_000_000
    missing = rng.choice([0, 0, 0, 0, 1, 30], num_rows)
    file_ok = rng.uniform(size=num_rows) > 0.05
    return t, missing, file_ok


def expected_counts(t, missing, file_ok, *, snr=300, snrz=300, max_missing=0, k=3.0):
    """The seed's cuts done row by row with plain Python (no NumPy)."""
    rows = list(range(len(t)))
    counts = []

    def step(name, keep):
        nonlocal rows
        before = len(rows)
        rows = [r for r in rows if keep(r)]
        counts.append((name, before - len(rows), len(rows)))

    def ok(x):
        return x == x  # not NaN

    step("apogee_snr", lambda r: ok(float(t["SNR"][r])) and float(t["SNR"][r]) > snr)
    step("lamost_snr", lambda r: float(t["snrz"][r]) > snrz)
    step("starflag", lambda r: int(t["STARFLAG"][r]) == 0)
    step("aspcapflag", lambda r: int(t["ASPCAPFLAG"][r]) == 0)
    step("files", lambda r: bool(file_ok[r]))
    step("missing_pixels", lambda r: int(missing[r]) <= max_missing)
    labels = ("TEFF", "LOGG", "FE_H")
    step("labels_present", lambda r: all(ok(float(t[c][r])) for c in labels))
    stats = {
        c: (
            statistics.fmean(float(t[c][r]) for r in rows),
            statistics.pstdev([float(t[c][r]) for r in rows]),
        )
        for c in labels
    }
    step(
        "labels_clip",
        lambda r: all(abs(float(t[c][r]) - stats[c][0]) <= k * stats[c][1] for c in labels),
    )
    return counts


@pytest.mark.core
@pytest.mark.parametrize("seed", [0, 1])
def test_seed_cut_counts_match_an_independent_count(seed):
    t, missing, file_ok = synthetic_catalogue(seed)
    result = apply_cuts(t, Cuts(), file_ok=file_ok, num_missing_pixels=missing)
    got = [(c.name, c.num_removed, c.num_remaining) for c in result.counts]
    want = expected_counts(t, missing, file_ok)
    assert got == want
    assert [c.name for c in result.counts] == list(CUT_NAMES)
    # every cut removes someone on this catalogue, so none is a no-op
    assert all(removed > 0 for _, removed, _ in want)
    assert result.keep.sum() == want[-1][2]


def test_other_thresholds_and_cuts_switched_off():
    t, missing, file_ok = synthetic_catalogue(2)
    cuts = Cuts(min_apogee_snr=200, min_lamost_snr=100, max_missing_apogee_pixels=1)
    result = apply_cuts(t, cuts, file_ok=file_ok, num_missing_pixels=missing)
    want = expected_counts(t, missing, file_ok, snr=200, snrz=100, max_missing=1)
    assert [(c.name, c.num_removed, c.num_remaining) for c in result.counts] == want
    off = Cuts(
        min_apogee_snr=None,
        min_lamost_snr=None,
        starflag_zero=False,
        aspcapflag_zero=False,
        max_missing_apogee_pixels=None,
        require_labels=False,
        label_sigma_clip=None,
    )
    result = apply_cuts(t, off, file_ok=np.ones(len(t), bool), num_missing_pixels=missing)
    assert [c.num_removed for c in result.counts] == [0] * len(CUT_NAMES)
    assert result.keep.all()
    assert result.counts[0].description == "apogee_snr: off"


def test_seed_defaults_and_descriptions():
    cuts = Cuts()
    assert (cuts.min_apogee_snr, cuts.min_lamost_snr, cuts.max_missing_apogee_pixels) == (
        300.0,
        300.0,
        0,
    )
    assert cuts.starflag_zero and cuts.aspcapflag_zero and cuts.require_labels
    assert cuts.label_sigma_clip == 3.0
    assert cuts.describe("apogee_snr") == "APOGEE SNR > 300"
    assert cuts.describe("lamost_snr") == "LAMOST snrz > 300"
    with pytest.raises(AttributeError):
        cuts.min_apogee_snr = 10  # frozen


def test_until_stops_after_the_catalogue_cuts():
    t, _, _ = synthetic_catalogue(3)
    result = apply_cuts(t, Cuts(), until="aspcapflag")
    assert [c.name for c in result.counts] == list(CUT_NAMES[:4])
    with pytest.raises(ValueError, match="until"):
        apply_cuts(t, Cuts(), until="nonsense")


def test_column_lookup_ignores_case_and_a_missing_one_is_named():
    t, _, _ = synthetic_catalogue(4, num_rows=50)
    t.rename_column("snrz", "SNRZ")
    t.meta["path"] = "joint.fits"
    apply_cuts(t, Cuts(), until="lamost_snr")  # found as SNRZ
    t.remove_column("STARFLAG")
    with pytest.raises(
        CatalogueColumnError, match=r"joint.fits: column 'STARFLAG' is missing.*'starflag'"
    ):
        apply_cuts(t, Cuts())
    apply_cuts(t, Cuts(starflag_zero=False), until="aspcapflag")  # not needed when off


def test_a_text_column_where_a_number_is_needed_is_named():
    t, _, _ = synthetic_catalogue(5, num_rows=50)
    t["SNR"] = ["high"] * 50
    with pytest.raises(CatalogueColumnError, match=r"column 'SNR' is not numeric.*'apogee_snr'"):
        apply_cuts(t, Cuts(), until="apogee_snr")


@pytest.mark.core
def test_missing_pixel_cut_off_keeps_and_counts_the_masked_stars():
    t, missing, file_ok = synthetic_catalogue(4)
    seed = apply_cuts(t, Cuts(), file_ok=file_ok, num_missing_pixels=missing)
    off = apply_cuts(
        t, Cuts(max_missing_apogee_pixels=None), file_ok=file_ok, num_missing_pixels=missing
    )
    row = {c.name: c for c in off.counts}["missing_pixels"]
    before = {c.name: c for c in off.counts}["files"].num_remaining
    # independently: rows that passed every earlier cut and have a missing pixel
    passed = [
        r
        for r in range(len(t))
        if float(t["SNR"][r]) > 300
        and float(t["snrz"][r]) > 300
        and int(t["STARFLAG"][r]) == 0
        and int(t["ASPCAPFLAG"][r]) == 0
        and file_ok[r]
    ]
    with_missing = sum(1 for r in passed if missing[r] > 0)
    assert len(passed) == before and with_missing > 0
    assert (row.num_removed, row.num_remaining) == (0, before)
    assert row.description == (
        f"missing_pixels: off ({with_missing} stars kept with missing pixels, "
        "masked by apogee_ivar = 0)"
    )
    seed_row = {c.name: c for c in seed.counts}["missing_pixels"]
    assert seed_row.num_removed == with_missing
    assert seed_row.description == "missing APOGEE pixels (beyond the chip gaps) <= 0"
    assert np.all(missing[off.keep & ~seed.keep] > 0) and (off.keep & ~seed.keep).any()
    some = Cuts(max_missing_apogee_pixels=1)
    row = {
        c.name: c for c in apply_cuts(t, some, file_ok=file_ok, num_missing_pixels=missing).counts
    }
    kept_one = sum(1 for r in passed if missing[r] == 1)
    assert row["missing_pixels"].description.endswith(
        f"<= 1 ({kept_one} stars kept with missing pixels, masked by apogee_ivar = 0)"
    )
