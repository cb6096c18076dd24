"""Tests of analysis.plots: what was drawn is checked by its numbers, never by pixels (STYLE 2.8).

Expected values come from the hand-written tables below: each figure must show exactly the table.
"""

from __future__ import annotations

import html
import re
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
    texts = [t.get_text() for t in ax.texts if t.get_gid() != "suppressed"]
    assert "4.2" in texts and "3.8" in texts      # 4.25 and 3.75 rounded half to even by format
    assert len(texts) == 14                       # 15 cells, one suppressed: no value
    assert [t.get_text() for t in ax.texts if t.get_gid() == "suppressed"] == ["n<5"]


def test_heatmap_suppressed_cell_is_text_on_white_not_a_scale_colour(comparison: pd.DataFrame) -> None:
    """Replaces the old hatched-grey test: a suppressed cell is now plain white with ``n<k`` text."""
    from matplotlib.colors import to_rgba

    ax = plots.heatmap(comparison, threshold=5)
    cells = [p for p in ax.patches if p.get_gid() == "suppressed"]
    assert len(cells) == 1
    x, y = cells[0].get_xy()
    assert (x + cells[0].get_width() / 2, y + cells[0].get_height() / 2) == pytest.approx((1.5, 1.5))  # E02, Alpha
    assert to_rgba(cells[0].get_facecolor()) == to_rgba("white") and not cells[0].get_hatch()
    texts = [t for t in ax.texts if t.get_gid() == "suppressed"]
    assert [t.get_text() for t in texts] == ["n<5"] and texts[0].get_position() == pytest.approx((1.5, 1.5))
    mesh = np.ma.asarray(ax.collections[0].get_array()).reshape(3, 5)
    assert np.ma.getmaskarray(mesh)[1, 1] or np.isnan(mesh[1, 1])      # the scale paints nothing there
    mesh_colors = ax.collections[0].get_facecolors()
    assert not any(np.allclose(c, to_rgba("white")) for c in mesh_colors)  # white is not a colour of the scale
    legend = ax.get_legend()
    assert legend is not None and [t.get_text() for t in legend.get_texts()] == ["suppressed (n < 5)"]


def test_heatmap_suppressed_text_follows_threshold_or_parameter(comparison: pd.DataFrame) -> None:
    ax = plots.heatmap(comparison, threshold=10)
    assert [t.get_text() for t in ax.texts if t.get_gid() == "suppressed"] == ["n<10"]
    ax = plots.heatmap(comparison, suppressed_text="llai na 5", suppressed_note="wedi'i atal")
    assert [t.get_text() for t in ax.texts if t.get_gid() == "suppressed"] == ["llai na 5"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["wedi'i atal"]


def _mesh(ax, shape: tuple[int, int]) -> np.ndarray:
    return np.ma.filled(np.ma.asarray(ax.collections[0].get_array(), dtype=float), np.nan).reshape(shape)


def test_heatmap_sort_by_overall_mean_descending(comparison: pd.DataFrame) -> None:
    """Row means of the shown cells: Zeta 15.75/5 = 3.15, Mid 14.5/5 = 2.9, Alpha 11.25/4 = 2.8125 (E02 left out)."""
    ax = plots.heatmap(comparison, sort_by="overall")
    expected = ["Zeta Council", "Mid County", "Alpha Borough"]
    assert [t.get_text() for t in ax.get_yticklabels()] == expected
    drawn = _mesh(ax, (3, 5))
    np.testing.assert_allclose(drawn[0], MEANS["Zeta Council"])
    np.testing.assert_allclose(drawn[1], MEANS["Mid County"])
    assert np.isnan(drawn[2, 1])                                   # the suppressed cell moved with its row
    cells = [p for p in ax.patches if p.get_gid() == "suppressed"]
    assert cells[0].get_xy()[1] == pytest.approx(2.06)             # ... and so did its white cell


def test_heatmap_sort_by_a_column_puts_missing_last(comparison: pd.DataFrame) -> None:
    ax = plots.heatmap(comparison, sort_by="E03")                   # 1.5, 3.75, 3.0
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Alpha Borough", "Mid County", "Zeta Council"]
    ax = plots.heatmap(comparison, sort_by="E02")                   # 4.25, NaN (suppressed), 2.0
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Zeta Council", "Mid County", "Alpha Borough"]


def _cluster_table() -> pd.DataFrame:
    """Two obvious clusters (A, C low; B, D high) and a middle council E; D has a missing cell."""
    means = {"A": [1.0, 1.0, 1.0, 1.0], "B": [5.0, 5.0, 5.0, 5.0], "C": [1.5, 1.0, 1.0, 1.0],
             "D": [4.5, 5.0, 5.0, NAN], "E": [3.0, 3.0, 3.0, 3.0]}
    return pd.DataFrame([{"council_name": c, "unit_id": f"E0{j + 1}", "mean": v}
                         for c, vals in means.items() for j, v in enumerate(vals)])


def test_heatmap_cluster_puts_similar_councils_together_deterministically() -> None:
    """Average linkage by hand. D's missing E04 is filled with the column mean (1+5+1+3)/4 = 2.5
    for the distance only. Euclidean distances: A-C 0.5; B-D sqrt(0.25+6.25) = 2.55;
    D-E sqrt(2.25+4+4+0.25) = 3.24, B-E 4, A-E 4, C-E sqrt(2.25+12) = 3.77. Merges: (A,C) at 0.5,
    (B,D) at 2.55, then E joins (B,D) at mean(4, 3.24) = 3.62 < E-(A,C) mean(4, 3.77) = 3.89.
    scipy's leaves_list of that tree: A, C, E, B, D. (Filling D's cell with 5 instead would make E
    join (A,C), so the test also pins the fill rule.)"""
    table = _cluster_table()
    rows = [t.get_text() for t in plots.heatmap(table, cluster=True).get_yticklabels()]
    assert rows == ["A", "C", "E", "B", "D"]
    again = [t.get_text() for t in plots.heatmap(table, cluster=True).get_yticklabels()]
    assert again == rows                                            # deterministic
    drawn = _mesh(plots.heatmap(table, cluster=True), (5, 4))
    assert np.isnan(drawn[4, 3])                                    # filled for the distance only, not drawn
    np.testing.assert_allclose(drawn[1], [1.5, 1.0, 1.0, 1.0])      # row C, values moved with the row


def test_heatmap_ordering_options_validated(comparison: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="not both"):
        plots.heatmap(comparison, sort_by="overall", cluster=True)
    with pytest.raises(ValueError, match="`sort_by` must be 'overall'"):
        plots.heatmap(comparison, sort_by="E99")


def test_heatmap_keeps_row_order_and_colour_scale_by_default(comparison: pd.DataFrame) -> None:
    ax = plots.heatmap(comparison, title="Council by enabler")
    assert [t.get_text() for t in ax.get_yticklabels()] == COUNCILS
    assert ax.get_title(loc="left") == "Council by enabler"
    mesh = ax.collections[0]
    assert mesh.norm.vmin == 1 and mesh.norm.vmax == 5
    # diverging and centred on 3: equal distances from 3 get colours of equal lightness
    lo, hi = mesh.cmap(mesh.norm(2.0)), mesh.cmap(mesh.norm(4.0))
    assert lo[0] > lo[2] and hi[2] > hi[0]                          # red below the midpoint, blue above
    assert sum(lo[:3]) == pytest.approx(sum(hi[:3]), abs=0.25)


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


def _with_band(comparison: pd.DataFrame) -> pd.DataFrame:
    zeta = comparison[comparison["council_name"] == "Zeta Council"]
    return zeta.assign(series="Zeta Council", q1=np.subtract(COHORT_MEDIAN, 0.5),
                       q3=np.add(COHORT_MEDIAN, [0.5, 0.25, 0.75, 0.5, 0.25]))


def _band(ax):
    bands = [p for p in ax.patches if p.get_gid() == "band"]
    assert len(bands) == 1
    return bands[0]


def test_spider_band_is_a_ring_between_the_quartiles(comparison: pd.DataFrame) -> None:
    data = _with_band(comparison)
    ax = plots.spider(data, order=UNITS, reference="cohort_median", band_low="q1", band_high="q3")
    path = _band(ax).get_path()
    theta = np.linspace(0, 2 * np.pi, 5, endpoint=False)
    verts, codes = path.vertices, path.codes
    assert list(codes).count(path.MOVETO) == 2                      # outer and inner outline: a ring
    np.testing.assert_allclose(verts[:5, 0], theta)
    np.testing.assert_allclose(verts[:5, 1], data["q3"])            # outer edge = upper quartile
    np.testing.assert_allclose(verts[6:11, 0], theta[::-1])         # inner edge traced backwards ...
    np.testing.assert_allclose(verts[6:11, 1], data["q1"].to_numpy()[::-1])   # ... = lower quartile
    ref = [ln for ln in ax.lines if ln.get_gid() == "reference"][0]
    assert ref.get_linestyle() == "--"
    np.testing.assert_allclose(_ydata(ref)[:-1], COHORT_MEDIAN)
    np.testing.assert_allclose(_ydata(_series_lines(ax)["Zeta Council"])[:-1], MEANS["Zeta Council"])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "Zeta Council", "Cohort median", "Cohort interquartile range"]
    assert _band(ax).get_zorder() < _series_lines(ax)["Zeta Council"].get_zorder()   # band under the lines


def test_spider_band_legend_text_is_a_parameter(comparison: pd.DataFrame) -> None:
    ax = plots.spider(_with_band(comparison), reference="cohort_median", reference_label="Canolrif y garfan",
                      band_low="q1", band_high="q3", band_label="Amrediad rhyngchwartel", title="Cyngor Zeta")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "Zeta Council", "Canolrif y garfan", "Amrediad rhyngchwartel"]
    assert ax.get_title() == "Cyngor Zeta"


def test_spider_band_keeps_suppressed_gap_and_has_its_own_gaps(comparison: pd.DataFrame) -> None:
    data = _with_band(comparison)
    data.loc[data["unit_id"] == "E02", "suppressed"] = True          # the council's value: a gap
    data.loc[data["unit_id"] == "E04", "q1"] = NAN                    # a band value: a gap in the band
    ax = plots.spider(data, order=UNITS, band_low="q1", band_high="q3")
    r = _ydata(_series_lines(ax)["Zeta Council"])
    assert np.isnan(r[1]) and not np.isnan(np.delete(r, 1)).any()
    assert not [p for p in ax.patches if p.get_gid() != "band"]       # broken polygon: not filled
    path = _band(ax).get_path()
    theta = np.linspace(0, 2 * np.pi, 5, endpoint=False)
    # one piece over the spokes E05, E01, E02, E03 (cyclic run after the gap at E04)
    assert list(path.codes).count(path.MOVETO) == 1
    drawn_angles = set(np.round(path.vertices[:, 0], 9))
    assert np.round(theta[3], 9) not in drawn_angles                  # nothing at the missing spoke
    assert drawn_angles == set(np.round(theta[[4, 0, 1, 2]], 9))


def test_spider_without_band_unchanged(comparison: pd.DataFrame) -> None:
    ax = plots.spider(_two_series(comparison), order=UNITS)
    assert not [p for p in ax.patches if p.get_gid() == "band"]
    assert ax.get_title() == ""


def test_spider_band_needs_both_ends_in_order(comparison: pd.DataFrame) -> None:
    data = _with_band(comparison)
    with pytest.raises(ValueError, match="both band_low= and band_high="):
        plots.spider(data, band_low="q1")
    with pytest.raises(ValueError, match="above its 'q1'"):
        plots.spider(data, band_low="q3", band_high="q1")
    with pytest.raises(ValueError, match="band_high='q9'"):
        plots.spider(data, band_low="q1", band_high="q9")


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


# ---------------------------------------------------------------------------------------------
# likert_bars
# ---------------------------------------------------------------------------------------------
LEVELS = [1, 2, 3, 4, 5]


@pytest.fixture
def likert_counts() -> pd.DataFrame:
    """Counts shaped like scoring.statement_distribution (levels as text, don't know apart).

    S1: 2, 3, 4, 6, 5 on the scale (20) and 5 don't know: shares 10, 15, 20, 30, 25 %; don't know
        5 / 25 = 20 % of all answers.
    S2: only levels 3 and 4 (2 each): shares 0, 0, 50, 50, 0; levels 1, 2, 5 and don't know have
        no row at all.
    S3: no row (in the instrument order only): an empty row.
    S4: answers present but flagged suppressed: nothing drawn.
    """
    rows = [("S1", lev, n) for lev, n in zip(["1", "2", "3", "4", "5", "dont_know"], [2, 3, 4, 6, 5, 5])]
    rows += [("S2", "3", 2), ("S2", "4", 2)]
    rows += [("S4", lev, n) for lev, n in zip(["1", "2", "3", "4", "5", "dont_know"], [1, 0, 1, 1, 0, 1])]
    data = pd.DataFrame(rows, columns=["item_id", "level", "count"])
    data["enabler_id"] = data["item_id"].map({"S1": "E01", "S2": "E01", "S4": "E02"})
    data["suppressed"] = data["item_id"] == "S4"
    return data


STATEMENT_ORDER = ["S2", "S1", "S3", "S4"]          # instrument order, not first appearance


def _bars(ax) -> dict[str, object]:
    """gid "<statement>|<level>" -> Rectangle."""
    return {p.get_gid(): p for p in ax.patches if p.get_gid()}


def _row_y(ax, text: str) -> float:
    for tick, y in zip(ax.get_yticklabels(), ax.get_yticks()):
        if tick.get_text() == text:
            return float(y)
    raise AssertionError(f"no row labelled {text!r}")


def test_likert_neutral_straddles_centre_disagree_left_agree_right(likert_counts: pd.DataFrame) -> None:
    fig = plots.likert_bars(likert_counts, order=STATEMENT_ORDER)
    ax = fig.axes[0]
    bars = _bars(ax)
    expected = {"1": (-35.0, 10.0), "2": (-25.0, 15.0), "3": (-10.0, 20.0), "4": (10.0, 30.0), "5": (40.0, 25.0)}
    for lev, (left, width) in expected.items():
        assert bars[f"S1|{lev}"].get_x() == pytest.approx(left), lev
        assert bars[f"S1|{lev}"].get_width() == pytest.approx(width), lev
    assert bars["S1|3"].get_x() == pytest.approx(-bars["S1|3"].get_width() / 2)     # half left, half right
    lo, hi = ax.get_xlim()
    assert lo == -hi and hi >= 65                                      # symmetric, holds the widest side
    centre = [ln for ln in ax.lines if ln.get_gid() == "centre"]
    assert len(centre) == 1 and list(centre[0].get_xdata()) == [0, 0]
    assert ax.get_xlabel() == "Share of respondents (%)"
    assert all(not t.get_text().startswith(("-", "\N{MINUS SIGN}")) for t in ax.get_xticklabels())   # absolute shares
    assert "50" in [t.get_text() for t in ax.get_xticklabels()]


def test_likert_legend_in_scale_order_with_rdbu_and_grey_neutral(likert_counts: pd.DataFrame) -> None:
    from matplotlib.colors import to_hex

    ax = plots.likert_bars(likert_counts, order=STATEMENT_ORDER).axes[0]
    texts = [t.get_text().replace("\n", " ") for t in ax.get_legend().get_texts()]
    assert texts == ["Strongly disagree", "Disagree", "Neither agree nor disagree", "Agree", "Strongly agree"]
    assert [c.get_label().replace("\n", " ") for c in ax.containers] == texts
    colours = [to_hex(c.patches[0].get_facecolor()) for c in ax.containers]
    assert colours == ["#ca0020", "#f4a582", plots.NEUTRAL_COLOR, "#92c5de", "#0571b0"]


def test_likert_missing_levels_still_plot_as_zero_width(likert_counts: pd.DataFrame) -> None:
    ax = plots.likert_bars(likert_counts, order=STATEMENT_ORDER).axes[0]
    bars = _bars(ax)
    assert [bars[f"S2|{lev}"].get_width() for lev in "12345"] == pytest.approx([0, 0, 50, 50, 0])
    assert bars["S2|3"].get_x() == pytest.approx(-25.0) and bars["S2|4"].get_x() == pytest.approx(25.0)
    y = {bars[f"S2|{lev}"].get_y() for lev in "12345"}
    assert len(y) == 1                                                 # one row
    assert list(y)[0] + bars["S2|3"].get_height() / 2 == pytest.approx(_row_y(ax, "S2"))


def test_likert_statement_without_answers_is_an_empty_labelled_row(likert_counts: pd.DataFrame) -> None:
    ax = plots.likert_bars(likert_counts, order=STATEMENT_ORDER).axes[0]
    assert not [g for g in _bars(ax) if g.startswith("S3|")]
    empty = [t for t in ax.texts if t.get_gid() == "empty"]
    assert [t.get_text() for t in empty] == ["no answers"]
    assert empty[0].get_position()[1] == pytest.approx(_row_y(ax, "S3"))
    ax = plots.likert_bars(likert_counts.assign(count=0), order=STATEMENT_ORDER, empty_label="dim atebion").axes[0]
    assert not _bars(ax)                                               # all zero: no error, only empty rows
    assert [t.get_text() for t in ax.texts if t.get_gid() == "empty"] == ["dim atebion"] * 3


def test_likert_suppressed_statement_draws_no_bars(likert_counts: pd.DataFrame) -> None:
    fig = plots.likert_bars(likert_counts, order=STATEMENT_ORDER, threshold=5)
    for ax in fig.axes:
        assert not [g for g in _bars(ax) if g.startswith("S4|")]
    note = [t for t in fig.axes[0].texts if t.get_gid() == "suppressed"]
    assert [t.get_text() for t in note] == ["fewer than 5 responses"]
    assert note[0].get_position()[1] == pytest.approx(_row_y(fig.axes[0], "S4"))
    assert not [t for t in fig.axes[0].texts if t.get_position()[1] == pytest.approx(_row_y(fig.axes[0], "S4"))
                and t.get_gid() is None]                               # no share written either
    fig = plots.likert_bars(likert_counts, order=STATEMENT_ORDER, suppressed_label="llai na 5 ymateb")
    assert [t.get_text() for t in fig.axes[0].texts if t.get_gid() == "suppressed"] == ["llai na 5 ymateb"]


def test_likert_order_is_top_to_bottom(likert_counts: pd.DataFrame) -> None:
    labels = {"S1": "First text", "S2": "Second text", "S3": "Third text", "S4": "Fourth text"}
    ax = plots.likert_bars(likert_counts, order=STATEMENT_ORDER, labels=labels).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [labels[s] for s in STATEMENT_ORDER]
    assert list(ax.get_yticks()) == sorted(ax.get_yticks())
    assert ax.get_ylim()[0] > ax.get_ylim()[1]                        # inverted: first at the top
    default = plots.likert_bars(likert_counts).axes[0]                 # default: first appearance
    assert [t.get_text() for t in default.get_yticklabels()] == ["S1", "S2", "S4"]


def test_likert_dont_know_is_apart_with_share_of_all_answers(likert_counts: pd.DataFrame) -> None:
    fig = plots.likert_bars(likert_counts, order=STATEMENT_ORDER)
    main, apart = fig.axes
    assert main.get_gid() == "likert" and apart.get_gid() == "apart"
    assert not [g for g in _bars(main) if g.endswith("dont_know")]     # never a point on the scale
    assert sum(_bars(main)[f"S1|{lev}"].get_width() for lev in "12345") == pytest.approx(100.0)
    dk = _bars(apart)
    assert dk["S1|dont_know"].get_width() == pytest.approx(20.0)       # 5 of 25 answers
    assert dk["S2|dont_know"].get_width() == pytest.approx(0.0)
    assert dk["S1|dont_know"].get_y() == pytest.approx(_bars(main)["S1|3"].get_y())   # same row
    assert [t.get_text() for t in apart.get_legend().get_texts()] == ["Don't know"]
    assert apart.get_xlabel() == "% of all answers" and apart.get_xlim() == (0.0, 100.0)
    on_scale = likert_counts[likert_counts["level"] != "dont_know"]
    assert len(plots.likert_bars(on_scale, order=STATEMENT_ORDER, apart=()).axes) == 1
    assert len(plots.likert_bars(on_scale, order=STATEMENT_ORDER).axes) == 1       # no don't-know rows: no panel
    with pytest.raises(ValueError, match="neither on the scale"):
        plots.likert_bars(likert_counts, apart=())                     # don't know rows need a place


def test_likert_long_labels_wrap_not_truncate_and_grow_the_figure(likert_counts: pd.DataFrame) -> None:
    long_text = ("We have spaces to explore how we're working and opportunities for improvement with other "
                 "key players beyond our organisation, including residents and the voluntary sector.")
    short = plots.likert_bars(likert_counts, order=STATEMENT_ORDER, labels={"S1": "Short"})
    fig = plots.likert_bars(likert_counts, order=STATEMENT_ORDER, labels={"S1": long_text}, wrap=40)
    label = fig.axes[0].get_yticklabels()[STATEMENT_ORDER.index("S1")].get_text()
    assert label.count("\n") >= 3 and max(len(line) for line in label.split("\n")) <= 40
    assert label.replace("\n", " ") == long_text                       # every word kept
    assert fig.get_figheight() > short.get_figheight()


def test_likert_all_text_is_a_parameter_for_a_welsh_pack(likert_counts: pd.DataFrame) -> None:
    from matplotlib.text import Text

    cy = {1: "Anghytuno'n gryf", 2: "Anghytuno", 3: "Ddim yn cytuno nac yn anghytuno", 4: "Cytuno",
          5: "Cytuno'n gryf"}
    fig = plots.likert_bars(likert_counts, order=STATEMENT_ORDER, labels={s: f"Datganiad {s}" for s in STATEMENT_ORDER},
                            level_labels=cy, apart_labels={"dont_know": "Ddim yn gwybod"}, title="Atebion",
                            xlabel="Cyfran yr ymatebwyr (%)", ylabel="Datganiad", apart_xlabel="% o bob ateb",
                            empty_label="dim atebion", suppressed_label="llai na 5 ymateb")
    main, apart = fig.axes
    assert [t.get_text().replace("\n", " ") for t in main.get_legend().get_texts()] == list(cy.values())
    assert [t.get_text() for t in apart.get_legend().get_texts()] == ["Ddim yn gwybod"]
    assert fig.get_suptitle() == "Atebion"
    shown = " | ".join(t.get_text() for t in fig.findobj(Text))
    for english in ("Share of respondents", "Statement", "agree", "Agree", "Don't know", "no answers",
                    "Answers to each", "of all answers", "fewer than", "responses"):
        assert english not in shown, english


def test_likert_groups_get_headings_and_separators(likert_counts: pd.DataFrame) -> None:
    fig = plots.likert_bars(likert_counts, order=STATEMENT_ORDER, group="enabler_id",
                            group_labels={"E01": "E01 Systems mindset", "E02": "E02 Reframing risk"})
    ax = fig.axes[0]
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks == ["E01 Systems mindset", "S2", "S1", "S3", "E02 Reframing risk", "S4"]   # S3 stays with E01
    headings = [t for t in ax.get_yticklabels() if t.get_gid() == "group_label"]
    assert [t.get_text() for t in headings] == ["E01 Systems mindset", "E02 Reframing risk"]
    assert all(t.get_fontweight() == "bold" for t in headings)
    for a in fig.axes:
        seps = [ln for ln in a.lines if ln.get_gid() == "group_separator"]
        assert len(seps) == 1                                          # between the two groups only
        assert _row_y(ax, "S3") < seps[0].get_ydata()[0] < _row_y(ax, "E02 Reframing risk")


def test_likert_levels_as_numbers_or_text_are_the_same(likert_counts: pd.DataFrame) -> None:
    numeric = likert_counts.assign(level=likert_counts["level"].map(lambda v: v if v == "dont_know" else int(v)))
    a = _bars(plots.likert_bars(likert_counts, order=STATEMENT_ORDER).axes[0])
    b = _bars(plots.likert_bars(numeric, order=STATEMENT_ORDER, level_order=["1", "2", "3", "4", "5"],
                                neutral="3").axes[0])
    assert a.keys() == b.keys()
    assert all(a[k].get_x() == pytest.approx(b[k].get_x()) and a[k].get_width() == pytest.approx(b[k].get_width())
               for k in a)


def test_likert_scale_without_neutral_splits_in_halves() -> None:
    data = pd.DataFrame({"item_id": "S1", "level": [1, 2, 3, 4], "count": [1, 1, 1, 1]})
    bars = _bars(plots.likert_bars(data, level_order=(1, 2, 3, 4), neutral=None, apart=()).axes[0])
    assert [bars[f"S1|{k}"].get_x() for k in "1234"] == pytest.approx([-50, -25, 0, 25])
    with pytest.raises(ValueError, match="even number"):
        plots.likert_bars(data, level_order=(1, 2, 3), neutral=None)
    with pytest.raises(ValueError, match="`neutral` must be one of"):
        plots.likert_bars(data, level_order=(1, 2, 3, 4), neutral=9)


def test_likert_rejects_bad_tables(likert_counts: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="count='n'"):
        plots.likert_bars(likert_counts, count="n")
    with pytest.raises(ValueError, match="never aggregate"):
        plots.likert_bars(pd.concat([likert_counts, likert_counts.iloc[:1].assign(level=1)]))   # "1" and 1
    with pytest.raises(ValueError, match=r"\['9'\]"):
        plots.likert_bars(likert_counts.assign(level=likert_counts["level"].replace("5", "9")))
    with pytest.raises(ValueError, match="must not be negative"):
        plots.likert_bars(likert_counts.assign(count=-1))


def test_likert_draws_on_given_figure_without_pyplot(likert_counts: pd.DataFrame) -> None:
    plt.close("all")
    fig = plots.likert_bars(likert_counts, order=STATEMENT_ORDER)
    assert isinstance(fig, Figure) and plt.get_fignums() == []          # not registered with pyplot
    given = Figure(figsize=(9, 4))
    assert plots.likert_bars(likert_counts, fig=given) is given
    assert given.get_figheight() == 4 and len(given.axes) == 2


# ---------------------------------------------------------------------------------------------
# dumbbell
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def change() -> pd.DataFrame:
    """Wave change of one council: E01 both waves, E02 only this wave, E03 only the previous wave,
    E04 neither (suppressed in both)."""
    return pd.DataFrame({"unit_id": ["E01", "E02", "E03", "E04"],
                         "mean_from": [2.0, NAN, 3.0, NAN], "mean_to": [2.5, 3.0, NAN, NAN],
                         "ci_low": [2.2, 2.6, NAN, NAN], "ci_high": [2.9, 3.3, NAN, NAN],
                         "suppressed": False})


def _line(ax, gid: str):
    lines = [ln for ln in ax.lines if ln.get_gid() == gid]
    assert len(lines) == 1, gid
    return lines[0]


def test_dumbbell_dots_line_and_whiskers(change: pd.DataFrame) -> None:
    ax = plots.dumbbell(change, low="ci_low", high="ci_high", labels={"E01": "Systems mindset"})
    before = np.asarray(_line(ax, "before").get_xdata(), dtype=float)
    after = np.asarray(_line(ax, "after").get_xdata(), dtype=float)
    np.testing.assert_array_equal(np.isnan(before), [False, True, False, True])
    np.testing.assert_array_equal(np.isnan(after), [False, False, True, True])
    np.testing.assert_allclose(before[[0, 2]], [2.0, 3.0])
    np.testing.assert_allclose(after[[0, 1]], [2.5, 3.0])
    np.testing.assert_allclose(_line(ax, "after").get_ydata(), [0, 1, 2, 3])
    joins = [c for c in ax.collections if c.get_gid() == "change"][0].get_segments()
    assert len(joins) == 1                                             # only E01 has both waves
    np.testing.assert_allclose(joins[0], [[2.0, 0.0], [2.5, 0.0]])
    ci = np.asarray(_line(ax, "ci").get_xdata(), dtype=float)
    np.testing.assert_allclose(ci.reshape(-1, 3)[:, :2], [[2.2, 2.9], [2.6, 3.3]])
    np.testing.assert_allclose(np.asarray(_line(ax, "ci").get_ydata(), dtype=float).reshape(-1, 3)[:, 0], [0, 1])
    assert [t.get_text() for t in ax.texts if t.get_gid() == "missing"] == ["not available"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Previous wave", "This wave",
                                                                   "95% confidence interval"]
    assert ax.get_yticklabels()[0].get_text() == "Systems mindset"
    assert ax.get_ylim()[0] > ax.get_ylim()[1]                        # first enabler at the top
    assert list(ax.get_xticks()) == [1, 2, 3, 4, 5]
    assert ax.get_title(loc="left") == "Change since the previous wave"


def test_dumbbell_order_suppressed_and_texts(change: pd.DataFrame) -> None:
    data = change.assign(suppressed=change["unit_id"] == "E01")
    ax = plots.dumbbell(data, order=["E03", "E01"], before_label="Ton flaenorol", after_label="Y don hon",
                        title="Newid", missing_label="dim ar gael")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["E03", "E01"]
    np.testing.assert_allclose(np.asarray(_line(ax, "before").get_xdata(), dtype=float), [3.0, NAN])
    assert not [c for c in ax.collections if c.get_gid() == "change"][0].get_segments()
    assert [t.get_text() for t in ax.texts if t.get_gid() == "missing"] == ["dim ar gael"]   # E01 suppressed
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Ton flaenorol", "Y don hon"]
    assert ax.get_title(loc="left") == "Newid"
    assert change["mean_from"].iloc[0] == 2.0                          # input untouched


def test_dumbbell_axes_and_validation(change: pd.DataFrame) -> None:
    plt.close("all")
    ax = plots.dumbbell(change)
    assert plt.get_fignums() == [] and isinstance(ax.figure, Figure)
    given = Figure().add_subplot()
    assert plots.dumbbell(change, ax=given) is given
    with pytest.raises(ValueError, match="both low= and high="):
        plots.dumbbell(change, low="ci_low")
    with pytest.raises(ValueError, match="after='mean'"):
        plots.dumbbell(change, after="mean")
    with pytest.raises(ValueError, match="never aggregate"):
        plots.dumbbell(pd.concat([change, change.iloc[:1]]))


# ---------------------------------------------------------------------------------------------
# distribution
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def cohort_means() -> pd.DataFrame:
    """Six councils x two enablers; c6 is suppressed (its 4.9 must never appear); E03 has no council."""
    e01 = [1.5, 2.0, 2.5, 3.0, 3.5, 4.9]
    e02 = [3.0, 3.2, 3.4, 4.0, 4.4, 4.9]
    rows = [{"council_id": f"c{i + 1}", "unit_id": u, "mean": v, "suppressed": i == 5}
            for u, values in (("E01", e01), ("E02", e02)) for i, v in enumerate(values)]
    rows.append({"council_id": "c1", "unit_id": "E03", "mean": NAN, "suppressed": True})
    return pd.DataFrame(rows)


def _offsets(ax, gid: str) -> np.ndarray:
    coll = [c for c in ax.collections if c.get_gid() == gid]
    assert len(coll) == 1, gid
    return np.asarray(coll[0].get_offsets(), dtype=float)


def test_distribution_dots_boxes_and_suppression(cohort_means: pd.DataFrame) -> None:
    ax = plots.distribution(cohort_means, order=["E01", "E02", "E03"])
    dots = _offsets(ax, "councils")
    assert len(dots) == 10 and 4.9 not in dots[:, 0]                    # the suppressed council is left out
    for row, values in ((0, [1.5, 2.0, 2.5, 3.0, 3.5]), (1, [3.0, 3.2, 3.4, 4.0, 4.4])):
        mine = dots[np.abs(dots[:, 1] - row) < 0.5]
        np.testing.assert_allclose(sorted(mine[:, 0]), values)
        assert np.all(np.abs(mine[:, 1] - row) <= 0.18)                # jitter stays within the row
    medians = [ln for ln in ax.lines if ln.get_gid() == "median"]
    assert len(medians) == 2 and len([p for p in ax.patches if p.get_gid() == "box"]) == 2
    np.testing.assert_allclose([np.mean(ln.get_xdata()) for ln in medians], [2.5, 3.4])
    np.testing.assert_allclose([np.mean(ln.get_ydata()) for ln in medians], [0, 1])
    assert [t.get_text() for t in ax.texts if t.get_gid() == "empty"] == ["no councils to show"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["E01", "E02", "E03"]
    assert ax.get_ylim()[0] > ax.get_ylim()[1] and list(ax.get_xticks()) == [1, 2, 3, 4, 5]


def test_distribution_jitter_is_seeded(cohort_means: pd.DataFrame) -> None:
    a = _offsets(plots.distribution(cohort_means), "councils")
    b = _offsets(plots.distribution(cohort_means), "councils")
    c = _offsets(plots.distribution(cohort_means, seed=7), "councils")
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a[:, 1], c[:, 1])


def test_distribution_highlights_one_council(cohort_means: pd.DataFrame) -> None:
    ax = plots.distribution(cohort_means, highlight="c2", highlight_label="Cyngor c2")
    mine = _offsets(ax, "highlight")
    np.testing.assert_allclose(mine, [[2.0, 0.0], [3.2, 1.0]])       # on the rows' centre lines
    dots = _offsets(ax, "councils")
    assert len(dots) == 8 and 2.0 not in dots[:, 0] and 3.2 not in dots[:, 0]   # drawn once, as the diamond
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "One council", "Middle half of councils (line: median)", "Cyngor c2"]
    suppressed = plots.distribution(cohort_means, highlight="c6")
    assert len(_offsets(suppressed, "highlight")) == 0                  # a suppressed council is not shown either


def test_distribution_validation(cohort_means: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="value='score'"):
        plots.distribution(cohort_means, value="score")
    with pytest.raises(ValueError, match="council='council_name'"):
        plots.distribution(cohort_means, highlight="c1", council="council_name")
    with pytest.raises(ValueError, match="never aggregate"):
        plots.distribution(pd.concat([cohort_means, cohort_means.iloc[:1]]))


# ---------------------------------------------------------------------------------------------
# every insight-pack figure: a title and labelled axes
# ---------------------------------------------------------------------------------------------
def test_every_new_figure_has_title_and_axis_labels(likert_counts: pd.DataFrame, change: pd.DataFrame,
                                                   cohort_means: pd.DataFrame) -> None:
    fig = plots.likert_bars(likert_counts, order=STATEMENT_ORDER)
    assert fig.get_suptitle()
    assert fig.axes[0].get_xlabel() and fig.axes[0].get_ylabel() and fig.axes[1].get_xlabel()
    assert fig.axes[0].get_legend() is not None and fig.axes[1].get_legend() is not None
    for ax in (plots.dumbbell(change), plots.distribution(cohort_means)):
        assert ax.get_title(loc="left") and ax.get_xlabel() and ax.get_ylabel()
        assert ax.get_legend() is not None


def test_new_plots_do_not_mutate_input(likert_counts: pd.DataFrame, change: pd.DataFrame,
                                       cohort_means: pd.DataFrame, comparison: pd.DataFrame) -> None:
    frames = [likert_counts, change, cohort_means, comparison]
    before = [f.copy() for f in frames]
    plots.likert_bars(likert_counts, group="enabler_id")
    plots.dumbbell(change, low="ci_low", high="ci_high")
    plots.distribution(cohort_means, highlight="c1")
    plots.heatmap(comparison, cluster=True)
    plots.spider(_with_band(comparison), band_low="q1", band_high="q3")
    for f, b in zip(frames, before):
        pd.testing.assert_frame_equal(f, b)


# ---------------------------------------------------------------------------------------------
# likert_html: the same chart as markup (used by the council packs)
# ---------------------------------------------------------------------------------------------
_SEG = re.compile(r'<span class="lk-seg" data-statement="([^"]*)" data-level="([^"]*)" data-share="([^"]*)"'
                  r'[^>]*style="left:([\d.]+)%;width:([\d.]+)%')


def _segments(markup: str) -> dict[str, tuple[float, float, float]]:
    """"<statement>|<level>" -> (share %, left % of the track, width % of the track)."""
    return {f"{s}|{lev}": (float(share), float(left), float(width))
            for s, lev, share, left, width in _SEG.findall(markup)}


def _row_html(markup: str, statement_label: str) -> str:
    start = markup.index(f'<div class="lk-label">{statement_label}</div>')
    return markup[start:markup.index('<div class="lk-row', start)]


def test_likert_html_matches_likert_bars_and_straddles_the_centre(likert_counts: pd.DataFrame) -> None:
    chart = plots.likert_html(likert_counts, order=STATEMENT_ORDER)
    bars = _bars(plots.likert_bars(likert_counts, order=STATEMENT_ORDER).axes[0])
    segs = _segments(chart.html)
    scale = {k: v for k, v in segs.items() if not k.endswith("dont_know")}
    assert set(scale) == {k for k, r in bars.items() if r.get_width() > 0}   # the same segments ...
    limit = 75.0                                                        # S1 reaches 65 %: axis to 75
    for key, (share, left, width) in scale.items():                    # ... at the same places
        assert share == pytest.approx(bars[key].get_width())
        assert width == pytest.approx(50 * share / limit, abs=1e-3)
        assert left == pytest.approx(50 + 50 * bars[key].get_x() / limit, abs=1e-3)
    share, left, width = segs["S1|3"]
    assert left + width / 2 == pytest.approx(50.0, abs=1e-3)          # neutral: half each side of the line
    assert segs["S1|1"][1] < segs["S1|2"][1] < 50 < segs["S1|4"][1] < segs["S1|5"][1]
    assert chart.html.count('class="lk-centre"') == len(STATEMENT_ORDER)
    assert isinstance(chart, plots.HtmlFigure) and chart._repr_html_() == chart.html


def test_likert_html_dont_know_apart_empty_and_suppressed_rows(likert_counts: pd.DataFrame) -> None:
    markup = plots.likert_html(likert_counts, order=STATEMENT_ORDER, threshold=5).html
    segs = _segments(markup)
    assert segs["S1|dont_know"][0] == pytest.approx(20.0)             # 5 of all 25 answers
    assert segs["S1|dont_know"][2] == pytest.approx(20.0)             # on its own 0-100 track
    assert "S2|dont_know" not in segs and "S2|1" not in segs          # levels nobody chose: zero width, no box
    s3 = _row_html(markup, "S3")
    assert 'data-kind="empty">no answers<' in s3 and "lk-seg" not in s3
    s4 = _row_html(markup, "S4")
    assert 'data-kind="suppressed">fewer than 5 responses<' in s4 and "lk-seg" not in s4
    assert not any(k.startswith("S4|") for k in segs)                  # nothing about the hidden statement
    order = [markup.index(f'<div class="lk-label">{s}</div>') for s in STATEMENT_ORDER]
    assert order == sorted(order)                                      # instrument order, top to bottom
    legend = markup[markup.index('class="lk-legend"'):markup.index('class="lk-body"')]
    assert [lab for lab in plots.DEFAULT_LEVEL_LABELS.values()] == re.findall(r"</i>([^<]+)</span>", legend)[:5]


def test_likert_html_text_is_escaped_wraps_and_comes_from_parameters(likert_counts: pd.DataFrame) -> None:
    long_text = ("We <b>have</b> spaces to explore how we're working & opportunities for improvement with other "
                 "key players beyond our organisation, including residents and the voluntary sector.")
    cy = {1: "Anghytuno'n gryf", 2: "Anghytuno", 3: "Ddim yn cytuno nac yn anghytuno", 4: "Cytuno",
          5: "Cytuno'n gryf"}
    chart = plots.likert_html(likert_counts, order=STATEMENT_ORDER, labels={"S1": long_text, "S2": "Datganiad S2",
                                                                           "S3": "Datganiad S3", "S4": "Datganiad S4"},
                              level_labels=cy, apart_labels={"dont_know": "Ddim yn gwybod"}, title="Atebion",
                              alt="Siart o'r atebion", xlabel="Cyfran yr ymatebwyr (%)", ylabel="Datganiad",
                              apart_xlabel="% o bob ateb", sides=("anghytuno", "cytuno"), empty_label="dim atebion",
                              suppressed_label="llai na 5 ymateb", group="enabler_id",
                              group_labels={"E01": "Galluogwr 1", "E02": "Galluogwr 2"})
    markup = chart.html
    assert html.escape(long_text) in markup and "<b>have</b>" not in markup   # whole text, escaped, never cut
    assert 'class="lk-body" role="img" aria-label="Siart o&#x27;r atebion"' in markup
    assert "<figcaption>Atebion</figcaption>" in markup and chart.title == "Atebion"
    assert markup.index("Galluogwr 1") < markup.index("Datganiad S2") < markup.index("Galluogwr 2")
    visible = re.sub(r"<style>.*?</style>|<[^>]+>", " ", markup, flags=re.S)
    for english in ("Share of respondents", "Statement", "Don't know", "Don&#x27;t know", "no answers",
                    "Answers to each", "of all answers", "fewer than", "disagree", "Agree"):
        assert english not in visible, english


# ---------------------------------------------------------------------------------------------
# bars_html and dumbbell_html (the packs' grouping and change charts)
# ---------------------------------------------------------------------------------------------
def _attr_values(markup: str, cls: str) -> list[tuple[str, float, float]]:
    """(row id, data-value, left %) of every element of class ``cls``, in document order."""
    found = []
    for row in re.finditer(r'<div class="sc-row" data-unit="([^"]*)">(.*?)</div></div>', markup, re.S):
        for value, left in re.findall(rf'class="{cls}"[^>]*?data-value="([^"]+)"[^>]*?left:([\d.]+)%', row.group(2)):
            found.append((row.group(1), float(value), float(left)))
        for value, width in re.findall(rf'class="{cls}" data-value="([^"]+)" style="width:([\d.]+)%', row.group(2)):
            found.append((row.group(1), float(value), float(width)))
    return found


def test_bars_html_draws_values_references_and_hides_suppressed() -> None:
    data = pd.DataFrame({"unit_id": ["G1", "G2", "G3"], "mean": [4.2, 3.0, 2.0], "median": [3.3, 3.5, 3.0],
                         "suppressed": [False, False, True]})
    chart = plots.bars_html(data, reference="median", order=["G2", "G1", "G3"], labels={"G1": "Mindset & more"},
                            title="Groupings", alt="Bars", suppressed_text="fewer than 5 responses")
    markup = chart.html
    bars = _attr_values(markup, "sc-bar")
    assert [(u, v) for u, v, _ in bars] == [("G2", 3.0), ("G1", 4.2)]            # order; G3 hidden
    assert bars[1][2] == pytest.approx(100 * 4.2 / 5.35, abs=1e-3)             # bar length on the 0..5.35 axis
    refs = _attr_values(markup, "sc-ref")
    assert [(u, v) for u, v, _ in refs] == [("G2", 3.5), ("G1", 3.3), ("G3", 3.0)]
    assert refs[1][2] == pytest.approx(100 * 3.3 / 5.35, abs=1e-3)
    g3 = markup[markup.index('data-unit="G3"'):]
    assert "fewer than 5 responses" in g3[:g3.index("</div></div>")] and "2.0" not in g3[:g3.index("</div></div>")]
    assert "Mindset &amp; more" in markup and 'role="img" aria-label="Bars"' in markup
    assert re.findall(r'class="sc-tick"[^>]*>([^<]+)<', markup) == ["1", "2", "3", "4", "5"]
    with pytest.raises(ValueError, match="share the same"):
        plots.bars_html(pd.concat([data, data]))


def test_dumbbell_html_dots_link_and_missing_rows() -> None:
    data = pd.DataFrame({"unit_id": ["E1", "E2", "E3", "E4"], "mean_from": [3.0, 4.0, np.nan, 2.0],
                         "mean_to": [3.5, 3.25, 2.5, 2.5], "suppressed": [False, False, False, True]})
    markup = plots.dumbbell_html(data, before_label="2024", after_label="2025", title="Change").html
    dots = _attr_values(markup, "sc-dot")
    assert [(u, v) for u, v, _ in dots] == [("E1", 3.0), ("E1", 3.5), ("E2", 4.0), ("E2", 3.25), ("E3", 2.5)]
    lo, hi = 0.9, 5.1
    assert dots[0][2] == pytest.approx(100 * (3.0 - lo) / (hi - lo), abs=1e-3)
    assert re.findall(r'data-wave="(\w+)"', markup) == ["before", "after", "before", "after", "after"]
    links = re.findall(r'class="sc-link" style="left:([\d.]+)%;width:([\d.]+)%', markup)
    assert len(links) == 2                                                      # rows with both values
    left, width = map(float, links[1])                                          # E2 fell: from 3.25 to 4.0
    assert left == pytest.approx(100 * (3.25 - lo) / (hi - lo), abs=1e-3)
    assert width == pytest.approx(100 * 0.75 / (hi - lo), abs=1e-3)
    e4 = markup[markup.index('data-unit="E4"'):]
    assert "not available" in e4[:e4.index("</div></div>")] and "sc-dot" not in e4[:e4.index("</div></div>")]
    assert "2024" in markup and "2025" in markup and "<figcaption>Change</figcaption>" in markup


# ---------------------------------------------------------------------------------------------
# spider_svg (the pack's first screen)
# ---------------------------------------------------------------------------------------------
def _svg_radius(markup: str, x: float, y: float) -> float:
    """Distance of an SVG point from the diagram's centre."""
    return float(np.hypot(x - 410.0, y - 300.0))


def test_spider_svg_geometry_reference_band_and_gaps() -> None:
    units = ["E1", "E2", "E3", "E4"]
    data = pd.DataFrame({"unit_id": units, "mean": [5.0, 1.0, 3.0, 4.0], "median": [3.0, 3.0, 3.0, 3.0],
                         "q1": [2.5, 2.5, np.nan, 2.5], "q3": [3.5, 3.5, np.nan, 3.5],
                         "suppressed": [False, False, False, True]})
    chart = plots.spider_svg(data, order=units, reference="median", band_low="q1", band_high="q3",
                             labels={"E1": "Systems & mindset"}, title="Spider", alt="A spider")
    markup = chart.html
    pts = re.findall(r'class="sp-point" data-unit="(\w+)" data-value="([\d.]+)" cx="([\d.]+)" cy="([\d.]+)"', markup)
    assert [(u, float(v)) for u, v, _, _ in pts] == [("E1", 5.0), ("E2", 1.0), ("E3", 3.0)]   # E4 hidden
    r_of = {u: _svg_radius(markup, float(x), float(y)) for u, _, x, y in pts}
    # centre a quarter-scale below 1 (r0 = 0): radius proportional to the value, 5 at the outer ring (215)
    assert r_of["E1"] == pytest.approx(215.0, abs=0.2) and r_of["E2"] == pytest.approx(43.0, abs=0.2)
    e1 = next((float(x), float(y)) for u, _, x, y in pts if u == "E1")
    assert e1[0] == pytest.approx(410.0) and e1[1] < 300                        # first spoke at 12 o'clock
    e2 = next((float(x), float(y)) for u, _, x, y in pts if u == "E2")
    assert e2[0] > 410 and e2[1] == pytest.approx(300.0, abs=0.2)              # clockwise: E2 at 3 o'clock
    series = re.search(r'class="sp-series" data-values="([^"]+)" d="([^"]+)" fill="([^"]+)"', markup)
    assert series.group(1) == "5.0 1.0 3.0 nan" and series.group(3) == "none"  # gap: not filled, never a 0
    assert series.group(2).count("M") == 2 and "Z" not in series.group(2)      # E1-E2, E2-E3: outline broken
    ref = re.search(r'class="sp-reference" d="([^"]+)"', markup).group(1)
    assert ref.endswith("Z") and ref.count("L") == 3                           # complete dashed polygon
    band = re.search(r'class="sp-band" d="([^"]+)"', markup).group(1)
    assert band.count("M") == 1                                                # gap at E3: one run E4-E1-E2
    assert 'role="img" aria-label="A spider"' in markup and "<title>A spider</title>" in markup
    assert "Systems &amp; mindset" in markup and "<figcaption>Spider</figcaption>" in markup


def test_spider_svg_complete_polygon_is_filled_and_errors_are_clear() -> None:
    data = pd.DataFrame({"unit_id": ["A", "B", "C"], "mean": [3.0, 3.5, 4.0]})
    markup = plots.spider_svg(data).html
    series = re.search(r'class="sp-series" data-values="[^"]+" d="([^"]+)" fill="([^"]+)"', markup)
    assert series.group(1).endswith("Z") and series.group(2) != "none"
    with pytest.raises(ValueError, match="at least 3 enablers"):
        plots.spider_svg(data.head(2))
    with pytest.raises(ValueError, match="band_low= and band_high="):
        plots.spider_svg(data.assign(q1=2.0), band_low="q1")
    with pytest.raises(ValueError, match="low value is above its high value"):
        plots.spider_svg(data.assign(q1=3.0, q3=2.0), band_low="q1", band_high="q3")
