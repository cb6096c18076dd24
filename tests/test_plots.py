"""Tests of analysis.plots: what was drawn is checked by its numbers, never by pixels (STYLE 2.8).

Expected values come from the hand-written tables below: each figure must show exactly the table.
"""

from __future__ import annotations

from collections.abc import Iterator

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from analysis import plots  # noqa: E402

NAN = float("nan")
UNITS = ["E01", "E02", "E03", "E04", "E05"]
COUNCILS = ["Zeta Council", "Alpha Borough", "Mid County"]   # deliberately not alphabetical
MEANS = {
    "Zeta Council": [3.0, 4.25, 1.5, 2.0, 5.0],
    "Alpha Borough": [2.5, NAN, 3.75, 4.0, 1.0],            # E02 suppressed
    "Mid County": [1.0, 2.0, 3.0, 4.0, 4.5],
}
COHORT_MEDIAN = [2.5, 3.0, 3.0, 4.0, 4.5]


@pytest.fixture(autouse=True)
def _close() -> Iterator[None]:
    yield
    plt.close("all")


@pytest.fixture
def comparison() -> pd.DataFrame:
    """A comparison-shaped table (docs/architecture.md): 3 councils x 5 enablers."""
    rows = [{"council_name": c, "unit_id": u, "mean": MEANS[c][i], "cohort_median": COHORT_MEDIAN[i],
             "suppressed": False}
            for c in COUNCILS for i, u in enumerate(UNITS)]
    return pd.DataFrame(rows)


def _ydata(line) -> np.ndarray:
    return np.asarray(line.get_ydata(), dtype=float)


def _series_lines(ax) -> dict[str, object]:
    return {ln.get_label(): ln for ln in ax.lines if ln.get_gid() == "series"}


# ---------------------------------------------------------------------------------------------
# heatmap
# ---------------------------------------------------------------------------------------------
def test_heatmap_cells_equal_table_in_row_order(comparison: pd.DataFrame) -> None:
    ax = plots.heatmap(comparison)
    drawn = np.ma.filled(np.ma.asarray(ax.collections[0].get_array(), dtype=float), np.nan).reshape(3, 5)
    expected = np.array([MEANS[c] for c in COUNCILS])
    np.testing.assert_array_equal(np.isnan(drawn), np.isnan(expected))
    np.testing.assert_allclose(drawn[~np.isnan(drawn)], expected[~np.isnan(expected)])
    assert [t.get_text() for t in ax.get_yticklabels()] == COUNCILS
    assert [t.get_text() for t in ax.get_xticklabels()] == UNITS


def test_heatmap_annotations_show_rounded_values(comparison: pd.DataFrame) -> None:
    ax = plots.heatmap(comparison, fmt=".1f")
    texts = [t.get_text() for t in ax.texts]
    assert "4.2" in texts and "3.8" in texts      # 4.25 and 3.75 rounded half to even by format
    assert len(texts) == 14                       # 15 cells, one suppressed: no text


def test_heatmap_suppressed_cell_hatched_and_noted(comparison: pd.DataFrame) -> None:
    ax = plots.heatmap(comparison, threshold=5)
    hatched = [p for p in ax.patches if p.get_gid() == "suppressed"]
    assert len(hatched) == 1
    assert hatched[0].get_xy() == (1, 1)          # column E02, row Alpha Borough
    assert hatched[0].get_hatch()
    legend = ax.get_legend()
    assert legend is not None and [t.get_text() for t in legend.get_texts()] == ["suppressed (n < 5)"]


def test_heatmap_suppressed_flag_hides_a_value_that_is_present(comparison: pd.DataFrame) -> None:
    """comparison keeps the means of suppressed rows: the figure must not show them."""
    data = comparison.copy()
    data.loc[(data["council_name"] == "Mid County") & (data["unit_id"] == "E05"), "suppressed"] = True
    ax = plots.heatmap(data)
    drawn = np.ma.filled(np.ma.asarray(ax.collections[0].get_array(), dtype=float), np.nan).reshape(3, 5)
    assert np.isnan(drawn[2, 4])
    assert "4.5" not in [t.get_text() for t in ax.texts]
    assert data.loc[(data["council_name"] == "Mid County") & (data["unit_id"] == "E05"), "mean"].item() == 4.5  # input untouched


def test_heatmap_labels_and_no_legend_without_missing(comparison: pd.DataFrame) -> None:
    data = comparison[comparison["council_name"] != "Alpha Borough"]
    ax = plots.heatmap(data, labels={"E01": "Systems mindset"})
    assert ax.get_xticklabels()[0].get_text() == "Systems mindset"
    assert ax.get_xticklabels()[1].get_text() == "E02"
    assert ax.get_legend() is None


def test_heatmap_draws_on_given_axes(comparison: pd.DataFrame) -> None:
    fig = Figure()
    ax = fig.add_subplot()
    assert plots.heatmap(comparison, ax=ax) is ax


def test_heatmap_duplicate_cells_raise(comparison: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="never aggregate"):
        plots.heatmap(pd.concat([comparison, comparison.iloc[:1]]))


def test_heatmap_missing_column_names_parameter(comparison: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="value='score'"):
        plots.heatmap(comparison, value="score")


# ---------------------------------------------------------------------------------------------
# spider
# ---------------------------------------------------------------------------------------------
def _two_series(comparison: pd.DataFrame) -> pd.DataFrame:
    zeta = comparison[comparison["council_name"] == "Zeta Council"]
    return pd.concat([zeta.assign(series="Zeta Council"),
                      zeta.assign(series="Cohort median", mean=zeta["cohort_median"])], ignore_index=True)


def test_spider_vertex_radii_equal_table_in_order(comparison: pd.DataFrame) -> None:
    ax = plots.spider(_two_series(comparison), order=UNITS)
    assert ax.name == "polar"
    lines = _series_lines(ax)
    assert set(lines) == {"Zeta Council", "Cohort median"}
    r = _ydata(lines["Zeta Council"])
    np.testing.assert_allclose(r[:-1], MEANS["Zeta Council"])
    assert r[-1] == r[0]                                            # closed polygon
    np.testing.assert_allclose(_ydata(lines["Cohort median"])[:-1], COHORT_MEDIAN)
    theta = np.asarray(lines["Zeta Council"].get_xdata(), dtype=float)
    np.testing.assert_allclose(theta[:-1], np.linspace(0, 2 * np.pi, 5, endpoint=False))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Zeta Council", "Cohort median"]


def test_spider_order_is_respected(comparison: pd.DataFrame) -> None:
    order = ["E05", "E04", "E03", "E02", "E01"]
    ax = plots.spider(_two_series(comparison), order=order)
    np.testing.assert_allclose(_ydata(_series_lines(ax)["Zeta Council"])[:-1], MEANS["Zeta Council"][::-1])
    assert [t.get_text() for t in ax.get_xticklabels()] == order


def test_spider_missing_value_is_a_gap_not_zero(comparison: pd.DataFrame) -> None:
    alpha = comparison[comparison["council_name"] == "Alpha Borough"]
    ax = plots.spider(alpha, hue=None)
    r = _ydata(ax.lines[0])
    assert np.isnan(r[1]) and not np.any(r[~np.isnan(r)] == 0)
    np.testing.assert_allclose(np.delete(r[:-1], 1), [2.5, 3.75, 4.0, 1.0])
    assert not ax.patches                                           # incomplete polygon: not filled


def test_spider_complete_polygon_is_filled(comparison: pd.DataFrame) -> None:
    zeta = comparison[comparison["council_name"] == "Zeta Council"]
    ax = plots.spider(zeta, hue=None, fill=True)
    assert len(ax.patches) == 1
    verts = ax.patches[0].get_path().vertices
    np.testing.assert_allclose(sorted(verts[:5, 1]), sorted(MEANS["Zeta Council"]))


def test_spider_reference_dashed_and_labels_wrapped(comparison: pd.DataFrame) -> None:
    zeta = comparison[comparison["council_name"] == "Zeta Council"]
    long_name = "A systems mindset and a long-term view"
    ax = plots.spider(zeta, hue=None, reference="cohort_median", labels={"E01": long_name})
    ref = [ln for ln in ax.lines if ln.get_gid() == "reference"]
    assert len(ref) == 1 and ref[0].get_linestyle() == "--"
    np.testing.assert_allclose(_ydata(ref[0])[:-1], COHORT_MEDIAN)
    first = ax.get_xticklabels()[0].get_text()
    assert "\n" in first and max(len(part) for part in first.split("\n")) <= 18
    assert first.replace("\n", " ") == long_name
    assert [t.get_text() for t in ax.get_yticklabels()] == ["1", "2", "3", "4", "5"]


def test_spider_respects_suppressed_flag(comparison: pd.DataFrame) -> None:
    zeta = comparison[comparison["council_name"] == "Zeta Council"].copy()
    zeta.loc[zeta["unit_id"] == "E03", "suppressed"] = True
    r = _ydata(plots.spider(zeta, hue=None).lines[0])
    assert np.isnan(r[2])


def test_spider_rejects_cartesian_axes(comparison: pd.DataFrame) -> None:
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="polar Axes"):
        plots.spider(_two_series(comparison), ax=ax)


def test_spider_uses_given_polar_axes(comparison: pd.DataFrame) -> None:
    ax = Figure().add_subplot(projection="polar")
    assert plots.spider(_two_series(comparison), ax=ax) is ax


def test_spider_needs_three_enablers(comparison: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="at least 3"):
        plots.spider(_two_series(comparison), order=["E01", "E02"])


def test_spider_duplicate_rows_raise(comparison: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="series"):
        plots.spider(comparison.assign(series="all"))


# ---------------------------------------------------------------------------------------------
# spider_grid
# ---------------------------------------------------------------------------------------------
def test_spider_grid_one_panel_per_council(comparison: pd.DataFrame) -> None:
    fig = plots.spider_grid(comparison, ncols=2)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3 and all(ax.name == "polar" for ax in fig.axes)
    assert [ax.get_title() for ax in fig.axes] == COUNCILS
    for ax, council in zip(fig.axes, COUNCILS):
        series = [ln for ln in ax.lines if ln.get_gid() == "series"]
        ref = [ln for ln in ax.lines if ln.get_gid() == "reference"]
        r = _ydata(series[0])[:-1]
        expected = np.array(MEANS[council])
        np.testing.assert_array_equal(np.isnan(r), np.isnan(expected))
        np.testing.assert_allclose(r[~np.isnan(r)], expected[~np.isnan(expected)])
        assert ref[0].get_linestyle() == "--"
        np.testing.assert_allclose(_ydata(ref[0])[:-1], COHORT_MEDIAN)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["Council mean", "Cohort median"]


def test_spider_grid_without_reference(comparison: pd.DataFrame) -> None:
    fig = plots.spider_grid(comparison, reference=None)
    assert all(not [ln for ln in ax.lines if ln.get_gid() == "reference"] for ax in fig.axes)
    assert len(fig.axes) == 3                                        # ncols capped at the council count


def test_spider_grid_inconsistent_reference_raises(comparison: pd.DataFrame) -> None:
    data = comparison.copy()
    extra = data.iloc[[0]].assign(council_name="Zeta Council", cohort_median=9.0, unit_id="E01")
    with pytest.raises(ValueError, match="never aggregate"):
        plots.spider_grid(pd.concat([data, extra]))


# ---------------------------------------------------------------------------------------------
# enabler_bars
# ---------------------------------------------------------------------------------------------
def test_enabler_bars_widths_and_reference(comparison: pd.DataFrame) -> None:
    alpha = comparison[comparison["council_name"] == "Alpha Borough"]
    ax = plots.enabler_bars(alpha, reference="cohort_median", labels={"E01": "Systems mindset"})
    widths = [p.get_width() for p in ax.patches]
    np.testing.assert_allclose(widths, np.nan_to_num(MEANS["Alpha Borough"]))       # suppressed -> 0 width
    assert [p.get_y() + p.get_height() / 2 for p in ax.patches] == list(range(5))
    ref = [ln for ln in ax.lines if ln.get_gid() == "reference"][0]
    np.testing.assert_allclose(np.asarray(ref.get_xdata(), dtype=float), COHORT_MEDIAN)
    assert "suppressed" in [t.get_text() for t in ax.texts]
    assert ax.get_yticklabels()[0].get_text() == "Systems mindset"
    assert ax.get_ylim()[0] > ax.get_ylim()[1]                        # first enabler at the top
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["mean", "Cohort median"]


def test_enabler_bars_order_and_no_reference(comparison: pd.DataFrame) -> None:
    mid = comparison[comparison["council_name"] == "Mid County"]
    ax = plots.enabler_bars(mid, order=["E05", "E01"])
    np.testing.assert_allclose([p.get_width() for p in ax.patches], [4.5, 1.0])
    assert ax.get_legend() is None


def test_enabler_bars_rejects_several_councils(comparison: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="one council"):
        plots.enabler_bars(comparison)


def test_plots_do_not_mutate_input(comparison: pd.DataFrame) -> None:
    before = comparison.copy()
    plots.heatmap(comparison)
    plots.spider_grid(comparison)
    plots.enabler_bars(comparison[comparison["council_name"] == "Zeta Council"], reference="cohort_median")
    pd.testing.assert_frame_equal(comparison, before)
