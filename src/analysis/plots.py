"""Drawing the diagnostic: heatmap, spider (radar) diagrams, bars, Likert bars, dumbbells and box plots.

No statistics here.

Every function takes a tidy table that :mod:`analysis.scoring` or :mod:`analysis.compare` computed
(``data`` first, keyword-only column names), draws it, and returns the Axes (or the Figure for the
small-multiples grid and the Likert bars). Nothing is saved or shown here: saving is
:func:`analysis.reports.save_figure`'s job and a notebook shows the figure itself (seaborn convention).
The newer functions (:func:`likert_bars`, :func:`dumbbell`, :func:`distribution`) create their own
figure, when they need one, as a :class:`matplotlib.figure.Figure` not registered with pyplot: a
notebook shows it where ``fig`` (or ``ax.figure``) is displayed.

Text shown to readers (titles, axis labels, legend entries, "no answers") has English defaults that
every function lets the caller replace, so a Welsh-language pack needs no change here.

Missing values
--------------
A statistic blanked by small-group suppression (NaN) is never drawn as a number:

* :func:`heatmap` draws the cell white with the text ``n<5`` (``suppressed_text``) instead of a
  colour of the scale, and adds a legend note ``suppressed (n < k)``;
* :func:`spider` / :func:`spider_grid` break the polygon's outline at the missing enabler (the
  line segments to and from it are not drawn, no marker is placed, and nothing is drawn at 0); the
  translucent fill is drawn only for polygons with no missing point, so no filled area implies a
  value that is not there;
* :func:`enabler_bars` draws a zero-width bar labelled ``suppressed``;
* :func:`likert_bars` draws no bars for a suppressed statement and labels its row;
* :func:`dumbbell` draws only the dots that exist (no joining line when one is missing);
* :func:`distribution` leaves suppressed councils out of the box and the dots.

Every function also takes ``suppressed="suppressed"``: when the table has that boolean column
(``comparison`` does, and keeps the means of suppressed rows for internal use), the values of
flagged rows are treated as missing, so a figure can never disclose a suppressed group's value.
Pass ``suppressed=None`` to switch this off.

Colours
-------
Scales use the diverging ColorBrewer ``RdBu`` palette (colour-blind safe), red for disagreement /
low scores and blue for agreement / high scores, with the neutral point light grey in the Likert
bars; series use seaborn's ``colorblind`` palette. No meaning is carried by colour alone: the
Likert legend is in scale order and values are written on the segments, dumbbell dots differ in
shape (open before, filled after) as well as colour.
"""

from __future__ import annotations

import html as _html
import inspect
from dataclasses import dataclass
import logging
import math
import textwrap
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, PathPatch, Rectangle
from matplotlib.path import Path as MplPath
from matplotlib.ticker import FuncFormatter, MultipleLocator

logger = logging.getLogger(__name__)

#: Diverging ColorBrewer palette marked colour-blind safe; centred at the scale midpoint.
DEFAULT_CMAP = "RdBu"
#: Qualitative palette for series (Okabe-Ito style, colour-blind safe).
DEFAULT_PALETTE = "colorblind"
#: Characters per line of wrapped enabler labels.
WRAP_WIDTH = 18
#: Look of a suppressed heatmap cell: plain white with a grey outline and grey text, never a
#: colour of the scale.
SUPPRESSED_FACE = "#ffffff"
SUPPRESSED_EDGE = "#bdbdbd"
SUPPRESSED_TEXT_COLOR = "#595959"
#: Look of the cohort reference polygon / marker.
REFERENCE_COLOR = "#333333"
#: Shaded cohort band (interquartile range) of the spider diagram.
BAND_COLOR = "#9e9e9e"
#: ColorBrewer RdBu, 5 classes (colour-blind safe), used for a 5-point Likert scale.
LIKERT_COLORS_5 = ("#ca0020", "#f4a582", "#f7f7f7", "#92c5de", "#0571b0")
#: The neutral point of a Likert scale: light grey, so it reads as neither side.
NEUTRAL_COLOR = "#d4d4d4"
#: Bars of answers kept apart from the scale ("Don't know", "Not applicable"), darkest first.
APART_COLORS = ("#7f7f7f", "#a6a6a6", "#c8c8c8")
#: Text for muted notes in a figure ("no answers", "suppressed").
NOTE_COLOR = "#595959"
#: Default English labels of the 5-point agreement scale (the instrument's canonical labels);
#: used only when ``level_order`` is 1..5 and no ``level_labels`` are passed.
DEFAULT_LEVEL_LABELS = {"1": "Strongly disagree", "2": "Disagree", "3": "Neither agree nor disagree",
                        "4": "Agree", "5": "Strongly agree"}
#: Default English labels of answers kept apart from the scale.
DEFAULT_APART_LABELS = {"dont_know": "Don't know"}
#: Default x-axis label of the 1-5 scale.
SCALE_LABEL = "Mean score (1 = Strongly disagree, 5 = Strongly agree)"


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _check_columns(data: pd.DataFrame, func: str, **columns: str | None) -> None:
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"{func}() expects a pandas DataFrame as data, not {type(data).__name__}.")
    missing = {param: col for param, col in columns.items() if col is not None and col not in data.columns}
    if missing:
        described = ", ".join(f"{param}={col!r}" for param, col in missing.items())
        raise ValueError(
            f"{func}(): column(s) not found in data: {described}; the data has columns "
            f"{list(map(str, data.columns))}. Pass the right column names as keywords."
        )


def _check_unique(data: pd.DataFrame, keys: list[str], func: str, hint: str) -> None:
    dup = data.duplicated(keys, keep=False)
    if dup.any():
        example = data.loc[dup, keys].iloc[0].tolist()
        raise ValueError(
            f"{func}(): {int(dup.sum())} rows share the same {keys} (e.g. {example}); plots draw a table "
            f"with one row per cell and never aggregate. {hint}"
        )


def _unit_order(data: pd.DataFrame, column: str, order: Sequence[Any] | None) -> list[Any]:
    if order is not None:
        order = list(order)
        extra = set(pd.unique(data[column].dropna())) - set(order)
        if extra:
            logger.debug("%d value(s) of %r are not in order and are not drawn: %s", len(extra), column, sorted(map(str, extra)))
        return order
    return list(pd.unique(data[column].dropna()))


def _label(unit: Any, labels: Mapping[Any, str] | None) -> str:
    if labels is not None and unit in labels:
        return str(labels[unit])
    return str(unit)


def _wrap(text: str, width: int = WRAP_WIDTH) -> str:
    return textwrap.fill(text, width=width, break_long_words=False) or text


def _scale_rows(ax: Axes, units: Sequence[Any], *, labels: Mapping[Any, str] | None, wrap: int, vmin: float,
                vmax: float, xlabel: str, ylabel: str) -> None:
    """Axes with one row per unit (first at the top) over the answer scale: ticks, limits, grid, labels."""
    ax.set_yticks(np.arange(len(units)), [_wrap(_label(u, labels), wrap) for u in units], fontsize="small")
    ax.set_ylim(len(units) - 0.5, -0.5)
    ax.set_xlim(vmin - 0.15, vmax + 0.15)
    ax.set_xticks(list(range(math.ceil(vmin), math.floor(vmax) + 1)))
    ax.grid(axis="x", linewidth=0.5, alpha=0.5, zorder=0)
    ax.tick_params(axis="y", length=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


def _float(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _float_series(s: pd.Series) -> pd.Series:
    return pd.Series(_float(s), index=s.index)


def _masked(data: pd.DataFrame, columns: Sequence[str | None], suppressed: str | None) -> pd.DataFrame:
    """Copy of ``data`` with ``columns`` as floats, NaN on rows flagged in the ``suppressed`` column."""
    out = data.copy()
    flag = None
    if suppressed is not None and suppressed in out.columns:
        flag = out[suppressed].fillna(False).astype(bool).to_numpy()
    for col in columns:
        if col is None:
            continue
        values = _float(out[col])
        if flag is not None and col != suppressed:
            values = np.where(flag, np.nan, values)
        out[col] = values
    return out


# --------------------------------------------------------------------------------------------
# heatmap
# --------------------------------------------------------------------------------------------
def _row_order(table: pd.DataFrame, sort_by: str | None, cluster: bool, fill_value: float) -> list[Any]:
    """Rows of ``table`` in display order: as given, by descending mean / column, or clustered."""
    if sort_by is not None and cluster:
        raise ValueError("heatmap(): pass either sort_by= or cluster=True, not both; they are two ways of "
                         "ordering the rows.")
    rows = list(table.index)
    if sort_by is not None:
        if sort_by == "overall":
            key = table.mean(axis=1, skipna=True)
        elif sort_by in table.columns:
            key = table[sort_by]
        else:
            raise ValueError(f"heatmap(): the value for `sort_by` must be 'overall' or one of the columns "
                             f"{list(map(str, table.columns))}, but {sort_by!r} was passed.")
        # stable: ties keep the order of first appearance; rows with no value go last
        return list(key.sort_values(ascending=False, kind="stable", na_position="last").index)
    if cluster and len(rows) > 2:
        from scipy.cluster.hierarchy import leaves_list, linkage

        # NaN filled by the column mean for the distance only (nothing filled is drawn); a column
        # with no value at all is constant and so adds nothing to any distance.
        filled = table.fillna(table.mean(axis=0)).fillna(fill_value).to_numpy(dtype="float64")
        return [rows[i] for i in leaves_list(linkage(filled, method="average", metric="euclidean"))]
    return rows


def heatmap(data: pd.DataFrame, *, x: str = "unit_id", y: str = "council_name", value: str = "mean",
            ax: Axes | None = None, vmin: float = 1, vmax: float = 5, center: float | None = 3,
            annot: bool = True, fmt: str = ".1f", cmap: Any = DEFAULT_CMAP,
            labels: Mapping[Any, str] | None = None, order: Sequence[Any] | None = None,
            threshold: int | None = None, suppressed: str | None = "suppressed",
            sort_by: str | None = None, cluster: bool = False, suppressed_text: str | None = None,
            suppressed_note: str | None = None, title: str | None = None) -> Axes:
    """Council x enabler maturity at a glance.

    Parameters
    ----------
    data
        Long table with one row per (``y``, ``x``) cell, e.g. ``comparison`` or the council rows of
        ``enabler_scores``.
    x, y, value
        Columns: the enabler (columns of the heatmap), the council (rows) and the value to colour.
    ax
        Axes to draw on; a new figure is created when ``None``.
    vmin, vmax, center
        Colour limits (the scale's ends) and the midpoint of the diverging palette (3 = neutral).
    annot, fmt
        Write each value in its cell with this format.
    cmap
        Colour map; the default ``"RdBu"`` is a colour-blind-safe diverging ColorBrewer palette.
    labels
        ``x`` value -> tick label (e.g. enabler short names); ids are shown otherwise.
    order
        Column order; default order of first appearance.
    threshold
        Disclosure threshold, used in the text of suppressed cells and the legend note.
    suppressed
        Boolean column whose flagged rows are drawn as suppressed whatever their value (see the
        module docstring); ignored when absent.
    sort_by
        Row order. ``None`` (default): order of first appearance. ``"overall"``: descending mean of
        the row's shown cells (suppressed cells left out). An ``x`` value (e.g. ``"E03"``):
        descending value in that column. Ties keep the order of first appearance and rows with no
        value go last.
    cluster
        Order the rows by hierarchical clustering instead (scipy, average linkage, Euclidean
        distance between the rows' shown values; a missing cell is filled with its column mean for
        the distance only). Similar councils end up next to each other; the order is deterministic.
        Cannot be combined with ``sort_by``.
    suppressed_text
        Text written in a suppressed cell; default ``"n<{threshold}"``, or ``"n<5"`` when no
        ``threshold`` is passed.
    suppressed_note
        Legend note explaining the suppressed cells; default ``"suppressed (n < {threshold})"``.
    title
        Axes title; none by default (a report usually puts its own heading above the figure).

    Returns
    -------
    matplotlib.axes.Axes
        ``ax.collections[0]`` is the seaborn QuadMesh whose array holds the table row by row in the
        drawn order (masked where suppressed); the y tick labels are the rows in that order.
        A suppressed (NaN) cell is covered by a white ``Rectangle`` with a grey outline and holds a
        ``Text``, both with ``gid="suppressed"``; a legend note is added when there is at least one.

    Raises
    ------
    ValueError
        A column is missing, two rows describe the same cell, ``sort_by`` names no column, or both
        ``sort_by`` and ``cluster`` are passed.

    Notes
    -----
    The colour scale stays diverging and centred on ``center`` (the scale midpoint, 3). A
    suppressed cell is deliberately not a colour of that scale: its background is plain white and
    its text says why it is blank, so it cannot be read as a score near the midpoint.
    """
    _check_columns(data, "heatmap", x=x, y=y, value=value)
    _check_unique(data, [y, x], "heatmap", f"Filter the table to one wave/level so that each {y} x {x} appears once.")
    rows = list(pd.unique(data[y]))
    cols = _unit_order(data, x, order)
    table = (_masked(data, [value], suppressed)
             .pivot(index=y, columns=x, values=value)
             .reindex(index=rows, columns=cols))
    fill_value = float(center) if center is not None else (vmin + vmax) / 2.0
    rows = _row_order(table, sort_by, cluster, fill_value)
    table = table.reindex(index=rows)
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6.0, 0.75 * len(cols) + 3.0), max(3.0, 0.4 * len(rows) + 2.0)))
    xlabels = [_label(c, labels) for c in cols]
    slanted = max(map(len, xlabels), default=0) > 6      # long names: slant rather than overlap
    if slanted:
        xlabels = [_wrap(t, 24) for t in xlabels]
    with warnings.catch_warnings():  # seaborn 0.13.2 calls Colormap.set_bad (pending deprecation in mpl 3.11)
        warnings.filterwarnings("ignore", message=".*set_bad.*", category=PendingDeprecationWarning)
        sns.heatmap(table, ax=ax, vmin=vmin, vmax=vmax, center=center, cmap=cmap, annot=annot, fmt=fmt,
                    linewidths=0.5, linecolor="white", square=False,
                    xticklabels=xlabels, yticklabels=[str(r) for r in rows],
                    cbar_kws={"label": value, "ticks": list(range(math.ceil(vmin), math.floor(vmax) + 1))})
    missing = np.argwhere(np.isnan(table.to_numpy(dtype="float64")))
    limit = "5" if threshold is None else str(threshold)
    text = suppressed_text if suppressed_text is not None else f"n<{limit}"
    for i, j in missing:
        ax.add_patch(Rectangle((j + 0.04, i + 0.06), 0.92, 0.88, facecolor=SUPPRESSED_FACE,
                               edgecolor=SUPPRESSED_EDGE, linewidth=0.6, zorder=2, gid="suppressed"))
        ax.text(j + 0.5, i + 0.5, text, ha="center", va="center", fontsize="small", style="italic",
                color=SUPPRESSED_TEXT_COLOR, zorder=3, gid="suppressed")
    if len(missing):
        if suppressed_note is not None:
            note = suppressed_note
        else:
            note = f"suppressed (n < {threshold})" if threshold is not None else "suppressed (n < threshold)"
        ax.legend(handles=[Patch(facecolor=SUPPRESSED_FACE, edgecolor=SUPPRESSED_EDGE, label=note)],
                  loc="lower left", bbox_to_anchor=(0.0, 1.01), frameon=False, fontsize="small")
    ax.set_xlabel("")
    ax.set_ylabel("")
    if title is not None:
        ax.set_title(title, loc="left", pad=28 if len(missing) else 6)   # above the legend note
    ax.tick_params(axis="x", labelsize="small")
    for tick in ax.get_xticklabels():
        tick.set_rotation(35 if slanted else 0)
        tick.set_horizontalalignment("right" if slanted else "center")
        tick.set_rotation_mode("anchor")
    ax.tick_params(axis="y", labelrotation=0)
    return ax


# --------------------------------------------------------------------------------------------
# spider
# --------------------------------------------------------------------------------------------
def _angles(n: int) -> np.ndarray:
    return np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)


def _setup_polar(ax: Axes, units: list[Any], labels: Mapping[Any, str] | None, vmin: float, vmax: float,
                 label_size: str | float = "small", wrap: int = WRAP_WIDTH) -> np.ndarray:
    """Put the first enabler at 12 o'clock, go clockwise, tick 1..5 and label the spokes."""
    angles = _angles(len(units))
    ax.set_theta_offset(np.pi / 2)
    ax.set_theta_direction(-1)
    ax.set_xticks(angles)
    ax.set_xticklabels([_wrap(_label(u, labels), wrap) for u in units], fontsize=label_size)
    # The centre sits a quarter-scale below vmin so that a value of vmin is still a visible point.
    ax.set_ylim(vmin - (vmax - vmin) / 4.0, vmax)
    ticks = list(range(math.ceil(vmin), math.floor(vmax) + 1))
    ax.set_yticks(ticks)
    ax.set_yticklabels([str(t) for t in ticks], fontsize="x-small", color="#555555")
    ax.set_rlabel_position(180.0 / len(units))
    ax.grid(True, linewidth=0.6, alpha=0.6)
    return angles


def _draw_polygon(ax: Axes, angles: np.ndarray, radii: np.ndarray, *, color: Any, label: str,
                  fill: bool, linestyle: str = "-", marker: str | None = "o", gid: str | None = None) -> Line2D:
    """One closed polygon; NaN radii break the outline (matplotlib skips segments touching NaN)."""
    theta = np.append(angles, angles[:1])
    r = np.append(radii, radii[:1])
    (line,) = ax.plot(theta, r, color=color, linestyle=linestyle, linewidth=1.6, marker=marker,
                      markersize=3, label=label, gid=gid)
    if fill and not np.isnan(radii).any():
        ax.fill(theta, r, color=color, alpha=0.15, linewidth=0)
    elif np.isnan(radii).any():
        logger.debug("spider: %s has %d missing value(s); outline broken there and not filled",
                     label, int(np.isnan(radii).sum()))
    return line


def _band_rings(angles: np.ndarray, low: np.ndarray, high: np.ndarray) -> list[list[tuple[float, float]]]:
    """The closed rings, as (angle, radius) points, that shade the band between ``low`` and ``high``.

    With every value present: the outer polygon and the inner one traced the other way round (a
    ring, the inner area clear under the non-zero or even-odd rule). A spoke with a missing value
    splits the band into runs of consecutive spokes (cyclically), each a polygon out along ``high``
    and back along ``low``; a run of a single spoke has no area and gives no ring.
    """
    n = len(angles)
    valid = ~(np.isnan(low) | np.isnan(high))
    if valid.all():
        return [[(a, r) for a, r in zip(angles, high)], [(a, r) for a, r in zip(angles[::-1], low[::-1])]]
    rings: list[list[tuple[float, float]]] = []
    if valid.any():
        start = int(np.flatnonzero(~valid)[0])          # walk the spokes from a gap, so runs do not wrap
        run: list[int] = []
        for k in [*range(start + 1, n), *range(0, start + 1)]:
            if valid[k]:
                run.append(k)
                continue
            if len(run) >= 2:
                rings.append([(angles[i], high[i]) for i in run] + [(angles[i], low[i]) for i in reversed(run)])
            run = []
    return rings


def _draw_band(ax: Axes, angles: np.ndarray, low: np.ndarray, high: np.ndarray, *, color: Any,
               label: str) -> PathPatch:
    """Shade the area between two polygons (``low`` and ``high`` radii per spoke).

    With every value present the band is a ring: the outer polygon plus the inner one traced the
    other way round, so the inner area stays clear. A spoke with a missing value splits the band
    into runs of consecutive spokes (cyclically), each a polygon out along ``high`` and back along
    ``low``; a run of a single spoke has no area and is not drawn.
    """
    vertices: list[tuple[float, float]] = []
    codes: list[int] = []
    rings = _band_rings(angles, low, high)
    for points in rings:
        vertices.extend([*points, points[0]])
        codes.extend([MplPath.MOVETO] + [MplPath.LINETO] * (len(points) - 1) + [MplPath.CLOSEPOLY])
    if rings and (np.isnan(low) | np.isnan(high)).any():
        logger.debug("spider: the band has %d missing spoke(s); it is drawn in pieces",
                     int((np.isnan(low) | np.isnan(high)).sum()))
    patch = PathPatch(MplPath(vertices or np.zeros((0, 2)), codes or None), facecolor=color, edgecolor="none",
                      alpha=0.35, zorder=1, label=label, gid="band")
    ax.add_patch(patch)
    return patch


def _reference_radii(data: pd.DataFrame, enabler: str, reference: str, units: list[Any], func: str) -> np.ndarray:
    ref = data[[enabler]].assign(_ref=_float(data[reference])).dropna(subset=["_ref"]).drop_duplicates()
    if ref[enabler].duplicated().any():
        bad = ref.loc[ref[enabler].duplicated(), enabler].iloc[0]
        raise ValueError(f"{func}(): the reference column {reference!r} has several values for {enabler}={bad!r}; "
                         "it must hold one cohort value per enabler.")
    return ref.set_index(enabler)["_ref"].reindex(units).to_numpy(dtype="float64")


def spider(data: pd.DataFrame, *, enabler: str = "unit_id", value: str = "mean", hue: str | None = "series",
           order: Sequence[Any] | None = None, labels: Mapping[Any, str] | None = None, ax: Axes | None = None,
           vmin: float = 1, vmax: float = 5, palette: Any = None, fill: bool = True,
           reference: str | None = None, reference_label: str = "Cohort median", legend: bool = True,
           suppressed: str | None = "suppressed", band_low: str | None = None, band_high: str | None = None,
           band_label: str = "Cohort interquartile range", band_color: Any = BAND_COLOR,
           title: str | None = None) -> Axes:
    """Spider (radar) diagram: one closed polygon per ``hue`` level over the enablers.

    With ``reference`` and ``band_low``/``band_high`` it is the scoring-tool view of one council:
    the council's polygon against the dashed cohort median, over a shaded band that runs, on
    every spoke, from the cohort's lower to its upper quartile of council means.

    Parameters
    ----------
    data
        Long table, one row per (``hue`` level, enabler).
    enabler, value
        Columns holding the spoke (enabler id) and the radius (e.g. the council mean).
    hue
        Column whose levels each get a polygon (in order of first appearance); ``None`` draws the
        whole table as one polygon labelled with ``value``.
    order
        Enablers in drawing order (first at 12 o'clock, clockwise); default order of first appearance.
        An enabler in ``order`` with no row for a level is treated as missing.
    labels
        Enabler id -> spoke label (e.g. ``instrument.enablers`` short names); wrapped at ~18 characters.
    ax
        A polar Axes (``fig.add_subplot(projection="polar")``); created when ``None``.
    vmin, vmax
        Scale ends; radial ticks at every integer between them.
    palette
        Seaborn palette name or list of colours; default colour-blind safe.
    fill
        Fill each complete polygon lightly.
    reference, reference_label
        Optional column holding one cohort value per enabler (e.g. ``cohort_median``), drawn as a
        dashed dark polygon with this legend label.
    legend
        Add a legend (series, then the reference, then the band).
    suppressed
        Boolean column whose flagged rows are drawn as missing (see the module docstring). It
        applies to ``value`` only: the reference and band columns are cohort values.
    band_low, band_high, band_label, band_color
        Optional pair of columns holding one cohort value per enabler each (e.g. ``cohort_q1`` and
        ``cohort_q3``, the quartiles of council means): the area between the two radii is shaded
        on every spoke and listed in the legend as ``band_label``. Pass both or neither. An enabler
        with no band value leaves a gap in the band.
    title
        Axes title; none by default.

    Returns
    -------
    matplotlib.axes.Axes
        The polar Axes. Each polygon is a ``Line2D`` labelled with its level whose ``get_ydata()``
        are the radii in ``order``, closed by repeating the first. The band is a ``PathPatch``
        with ``gid="band"`` whose path vertices are ``(angle, radius)`` pairs.

    Raises
    ------
    ValueError
        ``ax`` is not polar, a column is missing, fewer than 3 enablers, a (level, enabler)
        pair appears twice, only one of ``band_low``/``band_high`` is passed, or the band's low
        value is above its high value for an enabler.

    Notes
    -----
    A missing value (NaN, e.g. suppressed) is a gap, never a 0: the outline is broken either side
    of that spoke and the polygon is not filled (see the module docstring).
    """
    _check_columns(data, "spider", enabler=enabler, value=value, hue=hue, reference=reference,
                   band_low=band_low, band_high=band_high)
    if (band_low is None) != (band_high is None):
        raise ValueError("spider(): pass both band_low= and band_high= (e.g. 'cohort_q1' and 'cohort_q3') "
                         f"to draw the cohort band, or neither; got band_low={band_low!r}, band_high={band_high!r}.")
    if ax is not None and getattr(ax, "name", None) != "polar":
        raise ValueError("spider() needs a polar Axes, but a "
                         f"{getattr(ax, 'name', type(ax).__name__)!r} Axes was passed; create it with "
                         "fig.add_subplot(projection='polar') or pass ax=None.")
    units = _unit_order(data, enabler, order)
    if len(units) < 3:
        raise ValueError(f"spider() needs at least 3 enablers to draw a polygon, got {len(units)}: {units}.")
    keys = [enabler] if hue is None else [hue, enabler]
    _check_unique(data, keys, "spider", "Filter the table to one council/wave per series.")
    data = _masked(data, [value], suppressed)
    if ax is None:
        ax = plt.figure(figsize=(6.5, 6.5)).add_subplot(projection="polar")
    angles = _setup_polar(ax, units, labels, vmin, vmax)
    handles: list[Any] = []
    band = None
    if band_low is not None and band_high is not None:
        low = _reference_radii(data, enabler, band_low, units, "spider")
        high = _reference_radii(data, enabler, band_high, units, "spider")
        bad = np.flatnonzero(low > high)          # NaN compares False
        if len(bad):
            raise ValueError(f"spider(): the band's {band_low!r} is above its {band_high!r} for "
                             f"{enabler}={units[bad[0]]!r} ({low[bad[0]]} > {high[bad[0]]}); pass the lower "
                             "quantile as band_low and the upper one as band_high.")
        band = _draw_band(ax, angles, low, high, color=band_color, label=band_label)
    levels = [None] if hue is None else list(pd.unique(data[hue].dropna()))
    colors = sns.color_palette(palette or DEFAULT_PALETTE, n_colors=max(len(levels), 1))
    for level, color in zip(levels, colors):
        sub = data if level is None else data[data[hue] == level]
        radii = sub.set_index(enabler)[value].pipe(_float_series).reindex(units).to_numpy(dtype="float64")
        handles.append(_draw_polygon(ax, angles, radii, color=color, label=str(value if level is None else level),
                                     fill=fill, gid="series"))
    if reference is not None:
        handles.append(_draw_polygon(ax, angles, _reference_radii(data, enabler, reference, units, "spider"),
                                     color=REFERENCE_COLOR, label=reference_label, fill=False, linestyle="--",
                                     marker=None, gid="reference"))
    if band is not None:
        handles.append(band)
    if legend:
        ax.legend(handles=handles, loc="upper right", bbox_to_anchor=(1.25, 1.12), fontsize="small", frameon=False)
    if title is not None:
        ax.set_title(title, pad=24)
    return ax



def spider_grid(data: pd.DataFrame, *, council: str = "council_name", enabler: str = "unit_id",
                value: str = "mean", reference: str | None = "cohort_median", order: Sequence[Any] | None = None,
                labels: Mapping[Any, str] | None = None, ncols: int = 5, height: float = 2.6,
                vmin: float = 1, vmax: float = 5, series_label: str = "Council mean",
                reference_label: str = "Cohort median", suppressed: str | None = "suppressed") -> Figure:
    """Small multiples: one spider per council, council means vs the dashed cohort reference.

    Parameters
    ----------
    data
        Long table, one row per council x enabler, e.g. ``comparison`` (``council_name, unit_id,
        mean, cohort_median``).
    council, enabler, value
        Columns for the panel, the spoke and the radius.
    reference
        Column with the cohort value per enabler drawn dashed in every panel; ``None`` for none.
    order, labels
        As in :func:`spider`.
    ncols, height
        Panels per row and the height (inches) of each panel.
    vmin, vmax
        Scale ends, as in :func:`spider`.
    series_label, reference_label
        Legend labels.
    suppressed
        Boolean column whose flagged rows are drawn as missing (see the module docstring).

    Returns
    -------
    matplotlib.figure.Figure
        A figure *not* registered with pyplot (a notebook shows it only where it is displayed).
        ``fig.axes`` holds one polar Axes per council in order of first appearance (unused grid
        cells are removed); each panel's title is the council name.
    """
    _check_columns(data, "spider_grid", council=council, enabler=enabler, value=value, reference=reference)
    _check_unique(data, [council, enabler], "spider_grid", "Filter the table to one wave and level.")
    data = _masked(data, [value], suppressed)
    councils = list(pd.unique(data[council].dropna()))
    if not councils:
        raise ValueError("spider_grid(): data has no councils to draw.")
    units = _unit_order(data, enabler, order)
    if len(units) < 3:
        raise ValueError(f"spider_grid() needs at least 3 enablers, got {len(units)}: {units}.")
    ncols = max(1, min(int(ncols), len(councils)))
    nrows = math.ceil(len(councils) / ncols)
    # A fixed layout, not constrained: with 20 polar panels the layout engine costs as much as the
    # drawing itself (measured 2.9 s vs 1.8 s to render the demo cohort's grid).
    width, fig_height = ncols * height * 1.25, nrows * height * 1.3 + 0.5
    fig = Figure(figsize=(width, fig_height))
    fig.subplots_adjust(left=0.6 / width, right=1 - 0.6 / width, top=1 - 0.45 / fig_height,
                        bottom=0.55 / fig_height, wspace=0.4, hspace=0.45)
    color = sns.color_palette(DEFAULT_PALETTE, n_colors=1)[0]
    for k, name in enumerate(councils):
        ax = fig.add_subplot(nrows, ncols, k + 1, projection="polar")
        sub = data[data[council] == name]
        angles = _setup_polar(ax, units, labels, vmin, vmax, label_size=5.5)
        radii = sub.set_index(enabler)[value].pipe(_float_series).reindex(units).to_numpy(dtype="float64")
        _draw_polygon(ax, angles, radii, color=color, label=series_label, fill=True, gid="series")
        if reference is not None:
            _draw_polygon(ax, angles, _reference_radii(sub, enabler, reference, units, "spider_grid"),
                          color=REFERENCE_COLOR, label=reference_label, fill=False, linestyle="--", marker=None,
                          gid="reference")
        ax.set_title(_wrap(str(name), 28), fontsize="small", pad=14)
        ax.tick_params(axis="x", pad=1)
    handles, legend_labels = fig.axes[0].get_legend_handles_labels()
    fig.legend(handles, legend_labels, loc="lower center", ncols=2, frameon=False, fontsize="small")
    return fig


# --------------------------------------------------------------------------------------------
# bars
# --------------------------------------------------------------------------------------------
def enabler_bars(data: pd.DataFrame, *, enabler: str = "unit_id", value: str = "mean", reference: str | None = None,
                 order: Sequence[Any] | None = None, labels: Mapping[Any, str] | None = None, ax: Axes | None = None,
                 vmin: float = 1, vmax: float = 5, color: Any = None, fmt: str = ".1f",
                 reference_label: str = "Cohort median", suppressed: str | None = "suppressed") -> Axes:
    """Horizontal bars of one council's enabler means, with the cohort reference marked.

    Parameters
    ----------
    data
        One council's rows, one per enabler (e.g. ``comparison`` filtered to a council).
    enabler, value
        Columns for the bar and its length.
    reference, reference_label
        Optional column with the cohort value per enabler, drawn as a black ``|`` marker per bar.
    order, labels
        Enabler order (top to bottom; default first appearance) and enabler id -> label.
    ax
        Axes to draw on; created when ``None``.
    vmin, vmax
        Scale ends: x ticks at every integer between them; bars start at 0.
    color, fmt
        Bar colour (default first colour-blind-safe colour) and value-label format.
    suppressed
        Boolean column whose flagged rows are drawn as missing (see the module docstring).

    Returns
    -------
    matplotlib.axes.Axes
        ``ax.patches`` are the bars in ``order`` (widths = values; a suppressed/missing value is a
        zero-width bar labelled "suppressed"); the reference markers are the ``Line2D`` with
        ``gid="reference"`` whose x data are the reference values.
    """
    _check_columns(data, "enabler_bars", enabler=enabler, value=value, reference=reference)
    _check_unique(data, [enabler], "enabler_bars", "Filter the table to one council and wave first.")
    data = _masked(data, [value], suppressed)
    units = _unit_order(data, enabler, order)
    values = data.set_index(enabler)[value].pipe(_float_series).reindex(units).to_numpy(dtype="float64")
    if ax is None:
        _, ax = plt.subplots(figsize=(7.0, 0.42 * len(units) + 1.4))
    y = np.arange(len(units))
    color = color or sns.color_palette(DEFAULT_PALETTE, n_colors=1)[0]
    bars = ax.barh(y, np.nan_to_num(values, nan=0.0), height=0.6, color=color, label=str(value), zorder=2)
    for yi, v in zip(y, values):
        text = "suppressed" if np.isnan(v) else format(v, fmt)
        ax.text((0.05 if np.isnan(v) else v) + 0.05, yi, text, va="center", fontsize="x-small",
                color="#555555" if np.isnan(v) else "black", zorder=3)
    if reference is not None:
        ref = _reference_radii(data, enabler, reference, units, "enabler_bars")
        (marker,) = ax.plot(ref, y, linestyle="none", marker="|", markersize=16, markeredgewidth=2.5,
                            color=REFERENCE_COLOR, label=reference_label, zorder=4, gid="reference")
        ax.legend(handles=[bars, marker], loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=2, fontsize="small", frameon=False)
    ax.set_yticks(y, [_wrap(_label(u, labels), 32) for u in units], fontsize="small")
    ax.set_ylim(len(units) - 0.5, -0.5)   # first enabler at the top
    ax.set_xlim(0, vmax + 0.35)
    ax.set_xticks(list(range(math.ceil(vmin), math.floor(vmax) + 1)))
    ax.grid(axis="x", linewidth=0.5, alpha=0.5, zorder=0)
    ax.set_xlabel(value)
    sns.despine(ax=ax, left=True)
    return ax


# --------------------------------------------------------------------------------------------
# Likert bars (diverging stacked bars of answer shares)
# --------------------------------------------------------------------------------------------
def _level_key(value: Any) -> str:
    """Canonical text of an answer level, so that ``1``, ``1.0`` and ``"1"`` are the same level."""
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return str(int(number)) if number.is_integer() else value
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return str(int(number)) if number.is_integer() else str(value)


def _scale_colors(n_left: int, n_right: int, has_neutral: bool, palette: Any) -> tuple[list[Any], list[Any]]:
    """Colours for the disagree side (outermost first) and the agree side (innermost first)."""
    k = max(n_left, n_right)
    if k == 2 and has_neutral and (palette is None or palette == DEFAULT_CMAP):
        pal: list[Any] = list(LIKERT_COLORS_5)
    else:
        pal = sns.color_palette(palette or DEFAULT_CMAP, 2 * k + (1 if has_neutral else 0))
    mid = k if has_neutral else k - 0.5
    left = [pal[int(mid - d)] for d in range(n_left, 0, -1)]         # outermost (strongest) first
    right = [pal[int(mid + d)] for d in range(1, n_right + 1)]       # innermost first
    return left, right


def _text_color(color: Any) -> str:
    """Black or white, whichever reads better on ``color`` (WCAG relative luminance)."""
    from matplotlib.colors import to_rgb

    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in to_rgb(color))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "white" if luminance < 0.3 else "black"


@dataclass
class _LikertData:
    """What the Likert renderers draw, worked out once: shares, segment positions, labels, colours."""

    statements: list[Any]
    scale_keys: list[str]
    left_keys: list[str]
    right_keys: list[str]
    apart_keys: list[str]
    neutral_key: str | None
    shares: pd.DataFrame            # statement x scale level, percent of the scale answers
    scale_total: pd.Series
    apart_shares: pd.DataFrame      # statement x apart level, percent of all answers
    all_total: pd.Series
    flagged: set[Any]
    show_apart: bool
    rows: list[tuple[str, Any, str]]  # ("group" | "statement", key, label text, not wrapped)
    legend_text: dict[str, str]
    color_of: dict[str, Any]
    apart_names: dict[str, str]
    drawn: list[Any]                # statements that get bars, in row order
    lefts: dict[str, np.ndarray]    # left end of each scale level's segment, aligned with ``drawn``
    limit: float                    # half-width of the symmetric scale axis, percent
    note: str                       # text of a suppressed row

    def apart_rows(self) -> list[Any]:
        """Statements with a bar in the apart panel (not suppressed, at least one answer)."""
        return [s for kind, s, _ in self.rows
                if kind == "statement" and s not in self.flagged and self.all_total.get(s, 0) > 0]


def _likert_data(data: pd.DataFrame, *, func: str, statement: str, level: str, count: str,
                 order: Sequence[Any] | None, labels: Mapping[Any, str] | None, level_order: Sequence[Any],
                 level_labels: Mapping[Any, str] | None, apart: Sequence[Any],
                 apart_labels: Mapping[Any, str] | None, neutral: Any, group: str | None,
                 group_labels: Mapping[Any, str] | None, suppressed: str | None, suppressed_label: str | None,
                 threshold: int | None, palette: Any) -> _LikertData:
    """Validate Likert counts and lay them out (see :func:`likert_bars` for the parameters)."""
    _check_columns(data, func, statement=statement, level=level, count=count, group=group)
    scale_keys = [_level_key(v) for v in level_order]
    apart_keys = [_level_key(v) for v in apart]
    if len(set(scale_keys)) != len(scale_keys) or not scale_keys:
        raise ValueError(f"{func}(): level_order must list each scale level once, got {list(level_order)!r}.")
    if set(scale_keys) & set(apart_keys):
        raise ValueError(f"{func}(): level(s) {sorted(set(scale_keys) & set(apart_keys))} are both on the scale "
                         "(level_order) and apart from it (apart); a level can only be one of them.")
    if neutral is not None:
        neutral_key = _level_key(neutral)
        if neutral_key not in scale_keys:
            raise ValueError(f"{func}(): the value for `neutral` must be one of level_order {list(level_order)!r} "
                             f"or None, but {neutral!r} was passed.")
        cut = scale_keys.index(neutral_key)
        left_keys, right_keys = scale_keys[:cut], scale_keys[cut + 1:]
    else:
        neutral_key = None
        if len(scale_keys) % 2:
            raise ValueError(f"{func}(): a scale without a neutral level needs an even number of levels, got "
                             f"{len(scale_keys)}; pass neutral= (the middle level) for an odd scale.")
        left_keys, right_keys = scale_keys[: len(scale_keys) // 2], scale_keys[len(scale_keys) // 2:]

    # ---- the counts as a statement x level table ------------------------------------------------
    frame = data.assign(_key=data[level].map(_level_key), _count=_float(data[count]))
    unknown = sorted(set(frame["_key"]) - set(scale_keys) - set(apart_keys))
    if unknown:
        raise ValueError(f"{func}(): level(s) {unknown} are neither on the scale (level_order={list(level_order)!r}) "
                         f"nor apart from it (apart={list(apart)!r}); filter those rows out or add the level to "
                         "level_order or apart.")
    _check_unique(frame.assign(**{level: frame["_key"]}), [statement, level], func,
                  "Filter the table to one council and wave (and one scope) first.")
    if (frame["_count"] < 0).any():
        bad = frame.loc[frame["_count"] < 0].iloc[0]
        raise ValueError(f"{func}(): counts must not be negative, but {statement}={bad[statement]!r}, "
                         f"{level}={bad[level]!r} has {count}={bad[count]!r}.")
    frame["_count"] = frame["_count"].fillna(0.0)
    statements = _unit_order(data, statement, order)
    table = (frame.pivot(index=statement, columns="_key", values="_count")
             .reindex(index=statements, columns=scale_keys + apart_keys).fillna(0.0))
    scale_total = table[scale_keys].sum(axis=1)
    shares = table[scale_keys].div(scale_total.where(scale_total > 0), axis=0) * 100.0
    all_total = scale_total + (table[apart_keys].sum(axis=1) if apart_keys else 0.0)
    apart_shares = table[apart_keys].div(all_total.where(all_total > 0), axis=0) * 100.0
    flagged: set[Any] = set()
    if suppressed is not None and suppressed in data.columns:
        flag = data[suppressed].fillna(False).astype(bool).to_numpy()
        flagged = set(data.loc[flag, statement])
    show_apart = bool(apart_keys) and bool(frame["_key"].isin(apart_keys).any())

    # ---- rows: statements, each group's heading first ----------------------------------------------
    groups: dict[Any, Any] = {}
    if group is not None:
        first = data.dropna(subset=[group]).drop_duplicates(statement).set_index(statement)[group]
        current = None
        for s in statements:
            current = first.get(s, current)
            groups[s] = current
    rows: list[tuple[str, Any, str]] = []
    previous: Any = object()
    for s in statements:
        if group is not None and groups[s] != previous:
            rows.append(("group", groups[s], "" if groups[s] is None else _label(groups[s], group_labels)))
            previous = groups[s]
        rows.append(("statement", s, _label(s, labels)))

    # ---- legend, colours and segment positions --------------------------------------------------
    if level_labels is not None:
        legend_text = {k: str(v) for k, v in ((_level_key(k), v) for k, v in level_labels.items())}
    elif scale_keys == list(DEFAULT_LEVEL_LABELS):
        legend_text = dict(DEFAULT_LEVEL_LABELS)
    else:
        legend_text = {}
    left_colors, right_colors = _scale_colors(len(left_keys), len(right_keys), neutral_key is not None, palette)
    color_of = dict(zip(left_keys, left_colors)) | dict(zip(right_keys, right_colors))
    if neutral_key is not None:
        color_of[neutral_key] = NEUTRAL_COLOR
    drawn = [s for kind, s, _ in rows if kind == "statement" and s not in flagged and scale_total.get(s, 0) > 0]
    sh = shares.reindex(drawn)
    half = sh[neutral_key].to_numpy() / 2.0 if neutral_key is not None else np.zeros(len(drawn))
    lefts: dict[str, np.ndarray] = {}
    edge = -half
    for key in reversed(left_keys):                       # nearest the neutral first, outwards
        edge = edge - sh[key].to_numpy()
        lefts[key] = edge
    if neutral_key is not None:
        lefts[neutral_key] = -half
    edge = half
    for key in right_keys:
        lefts[key] = edge
        edge = edge + sh[key].to_numpy()
    extent = max([float(np.max(np.abs(lefts[k]))) for k in left_keys] +
                 [float(np.max(lefts[k] + sh[k].to_numpy())) for k in right_keys] + [0.0]) if drawn else 0.0
    limit = min(100.0, max(25.0, 25.0 * math.ceil(extent / 25.0 - 1e-9)))
    note = suppressed_label if suppressed_label is not None else (
        f"fewer than {threshold} responses" if threshold is not None else "too few responses to show")
    apart_names = {k: str(v) for k, v in ((_level_key(k), v) for k, v in (apart_labels or {}).items())}
    apart_names = {k: apart_names.get(k, DEFAULT_APART_LABELS.get(k, k)) for k in apart_keys}
    return _LikertData(statements=list(statements), scale_keys=scale_keys, left_keys=left_keys,
                       right_keys=right_keys, apart_keys=apart_keys, neutral_key=neutral_key, shares=shares,
                       scale_total=scale_total, apart_shares=apart_shares, all_total=all_total, flagged=flagged,
                       show_apart=show_apart, rows=rows, legend_text=legend_text, color_of=color_of,
                       apart_names=apart_names, drawn=drawn, lefts=lefts, limit=limit, note=note)


def likert_bars(data: pd.DataFrame, *, statement: str = "item_id", level: str = "level", count: str = "count",
                order: Sequence[Any] | None = None, labels: Mapping[Any, str] | None = None,
                level_order: Sequence[Any] = (1, 2, 3, 4, 5), level_labels: Mapping[Any, str] | None = None,
                apart: Sequence[Any] = ("dont_know",), apart_labels: Mapping[Any, str] | None = None,
                neutral: Any = 3, wrap: int = 55, title: str | None = None, fig: Figure | None = None,
                group: str | None = None, group_labels: Mapping[Any, str] | None = None,
                suppressed: str | None = "suppressed", suppressed_label: str | None = None,
                threshold: int | None = None, empty_label: str = "no answers",
                xlabel: str = "Share of respondents (%)", ylabel: str = "Statement",
                apart_xlabel: str = "% of all answers", legend_title: str | None = None,
                palette: Any = None, annot: bool = True, annot_min: float = 8.0, fmt: str = ".0f",
                width: float = 11.0) -> Figure:
    """Diverging stacked bars: how respondents answered each statement on the agreement scale.

    One row per statement, top to bottom in ``order``. On each row the share of answers at every
    scale point is a segment: the neutral share straddles the centre line (half either side),
    disagreement extends to the left and agreement to the right, so the balance of opinion reads
    off the bar's position. Answers kept apart from the scale (``"Don't know"``) are drawn in a
    separate narrow panel to the right, as a share of *all* answers; they are never a point on
    the scale.

    Parameters
    ----------
    data
        Tidy counts, one row per statement x level, e.g. ``scoring.statement_distribution``
        filtered to one council and wave (``item_id, level, count``). Levels may be numbers or
        their text (``1`` and ``"1"`` are the same level). A level with no row counts as 0.
    statement, level, count
        Columns: the statement id, the answer level and the number of respondents.
    order
        Statements in drawing order, top to bottom (the instrument order). A statement in
        ``order`` with no rows is drawn as an empty row labelled ``empty_label``; statements not
        in ``order`` are not drawn. Default: order of first appearance.
    labels
        Statement id -> row label (e.g. the statement text); wrapped at ``wrap`` characters, never
        truncated. Ids are shown otherwise.
    level_order
        The scale levels from most negative to most positive.
    level_labels
        Level -> legend text, e.g. the instrument's Welsh scale labels. Default: the English
        5-point agreement labels when ``level_order`` is 1..5, else the level itself.
    apart, apart_labels
        Levels that are not on the scale (default ``("dont_know",)``) and their legend / panel
        text (default ``"Don't know"`` for ``"dont_know"``). Pass ``apart=()`` to draw no panel;
        the panel is also left out when the table has no row at any of these levels.
    neutral
        The scale's neutral level (straddles the centre line); ``None`` for a scale without one,
        whose levels are then split into two equal halves.
    wrap
        Characters per line of the wrapped row labels. The figure grows taller with the number
        of lines, so nothing is cut off.
    title
        Figure title; default ``"Answers to each statement"`` (pass ``""`` for none).
    fig
        An empty ``Figure`` to draw on; by default a new one, not registered with pyplot, whose
        height follows the number of rows and label lines. A passed figure keeps its size.
    group, group_labels
        Optional column grouping the statements (e.g. ``enabler_id``) and group -> heading text.
        Each group gets a bold heading row and a thin separator line above it (except the
        first). A statement with no rows takes the group of the statement above it.
    suppressed, suppressed_label, threshold
        Boolean column: a statement with any flagged row draws no bars at all (neither panel)
        and its row is labelled ``suppressed_label``, default ``"fewer than {threshold}
        responses"`` (``"too few responses to show"`` without ``threshold``). Ignored when absent.
    empty_label
        Row text for a statement with no answers on the scale.
    xlabel, ylabel, apart_xlabel, legend_title
        Axis labels of the main and the apart panel, and the legend title (none by default).
    palette
        Diverging palette name or colours; default ColorBrewer ``RdBu`` (5 classes for a 5-point
        scale), red for disagreement and blue for agreement. The neutral level is light grey.
    annot, annot_min, fmt
        Write each segment's share (format ``fmt``) in it when it is at least ``annot_min``
        percent, and the apart shares next to their bars.
    width
        Width in inches of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        ``fig.axes[0]`` is the scale panel (``gid="likert"``) and, when drawn, ``fig.axes[1]`` the
        apart panel (``gid="apart"``). In the scale panel ``ax.containers`` holds one
        ``BarContainer`` per scale level in ``level_order`` (label = legend text); every bar
        ``Rectangle`` has ``gid="<statement>|<level>"``, its x position (``get_x()``) the segment's
        left end and ``get_width()`` its share in percent (0 for a level nobody chose). Empty and
        suppressed rows have no bars, only a ``Text`` with ``gid="empty"`` or ``gid="suppressed"``.

    Raises
    ------
    ValueError
        A column is missing, a level is neither in ``level_order`` nor in ``apart``, a statement
        x level appears twice, a count is negative, ``neutral`` is not in ``level_order``, or a
        scale without a neutral level has an odd number of levels.

    Notes
    -----
    For a statement with counts :math:`c_\\ell` the share of scale level :math:`\\ell` is
    :math:`100\\,c_\\ell / \\sum_{k \\in \\text{scale}} c_k` (the apart levels are left out, so the
    scale segments add up to 100) and the share of an apart level :math:`a` is
    :math:`100\\,c_a / (\\sum_{k \\in \\text{scale}} c_k + \\sum_{b \\in \\text{apart}} c_b)`. With neutral
    share :math:`s_0` the neutral segment spans :math:`[-s_0/2, s_0/2]`; the disagree levels are
    stacked leftwards from :math:`-s_0/2`, nearest the neutral first, the agree levels rightwards
    from :math:`s_0/2`. The x limits are symmetric about 0 and the tick labels show absolute
    shares.

    Examples
    --------
    >>> counts = pd.DataFrame({"item_id": ["S1"] * 6, "level": [1, 2, 3, 4, 5, "dont_know"],
    ...                        "count": [1, 2, 4, 6, 7, 2]})
    >>> fig = likert_bars(counts, labels={"S1": "We work with partners"})
    >>> [float(p.get_width()) for p in fig.axes[0].patches]
    [5.0, 10.0, 20.0, 30.0, 35.0]
    """
    d = _likert_data(data, func="likert_bars", statement=statement, level=level, count=count, order=order,
                     labels=labels, level_order=level_order, level_labels=level_labels, apart=apart,
                     apart_labels=apart_labels, neutral=neutral, group=group, group_labels=group_labels,
                     suppressed=suppressed, suppressed_label=suppressed_label, threshold=threshold, palette=palette)
    scale_keys, left_keys, right_keys, apart_keys = d.scale_keys, d.left_keys, d.right_keys, d.apart_keys
    neutral_key, flagged, legend_text, color_of = d.neutral_key, d.flagged, d.legend_text, d.color_of
    show_apart = d.show_apart

    # ---- rows (group headings and statements), heights following their wrapped label lines -------
    rows: list[tuple[str, Any, str, float]] = []          # (kind, key, label, height)
    for kind, key, text in d.rows:
        label = _wrap(text, wrap)
        height = (0.55 + 0.42 * label.count("\n") + 0.35 if kind == "group"
                  else max(1.0, 0.42 * (label.count("\n") + 1) + 0.3))
        rows.append((kind, key, label, height))
    tops = np.cumsum([0.0] + [h for *_, h in rows])
    centres = {i: tops[i] + rows[i][3] / 2.0 for i in range(len(rows))}
    total_height = float(tops[-1]) if rows else 1.0

    # ---- figure -------------------------------------------------------------------------------
    unit = 0.34                                            # inches per row of a one-line label
    if fig is None:
        fig = Figure(figsize=(width, total_height * unit + 2.1), layout="constrained")
    if show_apart:
        ax, ax_apart = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [5.0, 1.0], "wspace": 0.04})
        ax_apart.set_gid("apart")
    else:
        ax, ax_apart = fig.add_subplot(), None
    ax.set_gid("likert")

    # ---- scale panel ----------------------------------------------------------------------------
    drawn_set = set(d.drawn)
    drawn = [i for i, (kind, s, *_) in enumerate(rows) if kind == "statement" and s in drawn_set]
    y_drawn = np.array([centres[i] for i in drawn])
    sh = d.shares.reindex(d.drawn)
    lefts = d.lefts
    bar_height = 0.68
    for key in scale_keys:
        widths = sh[key].to_numpy()
        color = color_of[key]
        bars = ax.barh(y_drawn, widths, left=lefts[key], height=bar_height, color=color, edgecolor="white",
                       linewidth=0.6, label=_wrap(legend_text.get(key, key), 16), zorder=2)
        for rect, s in zip(bars.patches, d.drawn):
            rect.set_gid(f"{s}|{key}")
        if annot:
            for rect, w in zip(bars.patches, widths):
                if w >= annot_min:
                    # the neutral share sits on the centre line: its label gets a backing of the
                    # segment's colour so that the line does not run through the digits
                    backing = ({"facecolor": color, "edgecolor": "none", "pad": 0.6} if key == neutral_key else None)
                    ax.text(rect.get_x() + w / 2.0, rect.get_y() + bar_height / 2.0, format(w, fmt),
                            ha="center", va="center", fontsize="x-small", color=_text_color(color), zorder=5,
                            bbox=backing)
    note = d.note
    for i, (kind, s, _, _) in enumerate(rows):
        if kind != "statement" or i in drawn:
            continue
        text, gid = (note, "suppressed") if s in flagged else (empty_label, "empty")
        ax.text(0.0, centres[i], text, ha="center", va="center", fontsize="small", style="italic",
                color=NOTE_COLOR, zorder=5, gid=gid,                  # over the centre line
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.5})
    limit = d.limit
    ax.set_xlim(-limit, limit)
    ax.xaxis.set_major_locator(MultipleLocator(25.0 if limit > 50 else 10.0))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: format(abs(v), "g")))
    ax.axvline(0.0, color="#333333", linewidth=1.0, zorder=4, gid="centre")
    ax.grid(axis="x", linewidth=0.5, alpha=0.5, zorder=0)
    ax.set_yticks([centres[i] for i in range(len(rows))], [r[2] for r in rows], fontsize="small")
    for tick, (kind, *_) in zip(ax.get_yticklabels(), rows):
        if kind == "group":
            tick.set_fontweight("bold")
            tick.set_gid("group_label")
    ax.tick_params(axis="y", length=0)
    ax.set_ylim(total_height, 0.0)                      # first statement at the top
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    sns.despine(ax=ax, left=True)
    handles = list(ax.containers)
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=len(handles),
              frameon=False, fontsize="small", title=legend_title, title_fontsize="small")

    # ---- group separators -----------------------------------------------------------------------
    axes = [ax] if ax_apart is None else [ax, ax_apart]
    for i, (kind, *_) in enumerate(rows):
        if kind == "group" and i > 0:
            for a in axes:
                a.axhline(tops[i], color="#9e9e9e", linewidth=0.7, zorder=1, gid="group_separator")

    # ---- apart panel ----------------------------------------------------------------------------
    if ax_apart is not None:
        apart_set = set(d.apart_rows())
        apart_rows = [i for i, (kind, s, *_) in enumerate(rows) if kind == "statement" and s in apart_set]
        apart_keys_rows = [rows[i][1] for i in apart_rows]
        y_apart = np.array([centres[i] for i in apart_rows])
        left = np.zeros(len(apart_rows))
        for n, key in enumerate(apart_keys):
            widths = d.apart_shares[key].reindex(apart_keys_rows).to_numpy()
            bars = ax_apart.barh(y_apart, widths, left=left, height=bar_height, zorder=2,
                                 color=APART_COLORS[n % len(APART_COLORS)], edgecolor="white", linewidth=0.6,
                                 label=d.apart_names[key])
            for rect, s in zip(bars.patches, apart_keys_rows):
                rect.set_gid(f"{s}|{key}")
            left = left + widths
        if annot:
            for y, total in zip(y_apart, left):
                ax_apart.text(total + 3.0, y, format(total, fmt), ha="left", va="center", fontsize="x-small", zorder=3)
        ax_apart.set_xlim(0.0, 100.0)
        ax_apart.set_xticks([0, 50, 100])
        ax_apart.set_xlabel(apart_xlabel)
        ax_apart.tick_params(axis="y", length=0, labelleft=False)
        ax_apart.grid(axis="x", linewidth=0.5, alpha=0.5, zorder=0)
        sns.despine(ax=ax_apart, left=True)
        apart_handles = list(ax_apart.containers)
        ax_apart.legend(handles=apart_handles, loc="lower center", bbox_to_anchor=(0.5, 1.0),
                        ncols=1, frameon=False, fontsize="small")
    fig.suptitle("Answers to each statement" if title is None else title, fontweight="bold")
    return fig


#: Stylesheet of :func:`likert_html` charts; travels with each chart so it renders the same in a
#: notebook, the HTML report, the browser's print to PDF and WeasyPrint.
LIKERT_HTML_CSS = """
.lk{margin:1rem 0;font-size:.85rem;line-height:1.25;text-align:left;break-inside:auto;page-break-inside:auto}
.lk figcaption{font-weight:bold;font-size:1rem;margin:0 0 .35rem}
.lk-legend{margin:.2rem 0 .5rem;font-size:.78rem}
.lk-legend span{display:inline-block;margin:0 1rem .2rem 0;white-space:nowrap}
.lk-key{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:-.12em;border:1px solid #8c8c8c}
.lk-row{position:relative;min-height:1.35em;padding:.12rem 0;break-inside:avoid;page-break-inside:avoid}
.lk-label{width:40%;box-sizing:border-box;padding-right:.6rem;overflow-wrap:anywhere}
.lk-track{position:absolute;left:40%;right:17%;top:50%;height:1.35em;margin-top:-.675em}
.lk-apart{position:absolute;right:0;width:13%;top:50%;height:1.35em;margin-top:-.675em;border-left:1px solid #bdbdbd}
.lk-noapart .lk-track{right:0}
.lk-seg{position:absolute;top:0;bottom:0;box-sizing:border-box;border-right:1px solid #fff;overflow:hidden;
 white-space:nowrap;text-align:center;font-size:.72rem;line-height:1.35em}
.lk-centre{position:absolute;top:-.15em;bottom:-.15em;left:50%;border-left:1.5px solid #333;z-index:1}
.lk-seg b{position:relative;z-index:2;font-weight:normal;padding:0 .2em}
.lk-note{position:absolute;left:0;right:0;top:0;text-align:center;font-style:italic;color:#595959;font-size:.8rem}
.lk-value{position:absolute;top:0;font-size:.72rem;line-height:1.35em;padding-left:.25em}
.lk-group{font-weight:bold;margin-top:.45rem;padding-top:.3rem;border-top:1px solid #9e9e9e;
 break-after:avoid;page-break-after:avoid}
.lk-head{font-size:.75rem;color:#424242;font-weight:bold}
.lk-axis .lk-track,.lk-axis .lk-apart{border-top:1px solid #757575;border-left:0}
.lk-tick{position:absolute;top:.1em;width:3em;margin-left:-1.5em;text-align:center;font-size:.72rem;color:#424242}
.lk-xlabel{text-align:center;font-size:.78rem;color:#424242}
.lk *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
"""


class HtmlFigure:
    """A chart written as HTML and CSS (no image): text stays text, so it wraps, prints sharply and
    reads aloud, and it costs milliseconds instead of a Matplotlib render.

    Attributes
    ----------
    html
        The chart's markup with its stylesheet, ready to embed in a page.
    title, alt
        The chart's title (its caption) and its text alternative (``aria-label`` of the chart).
    """

    def __init__(self, html: str, *, title: str, alt: str) -> None:
        self.html, self.title, self.alt = html, title, alt

    def _repr_html_(self) -> str:  # Jupyter's rich display
        return self.html

    def __str__(self) -> str:
        return self.html


def _pct(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") + "%"


def likert_html(data: pd.DataFrame, *, statement: str = "item_id", level: str = "level", count: str = "count",
                order: Sequence[Any] | None = None, labels: Mapping[Any, str] | None = None,
                level_order: Sequence[Any] = (1, 2, 3, 4, 5), level_labels: Mapping[Any, str] | None = None,
                apart: Sequence[Any] = ("dont_know",), apart_labels: Mapping[Any, str] | None = None,
                neutral: Any = 3, title: str | None = None, alt: str | None = None,
                group: str | None = None, group_labels: Mapping[Any, str] | None = None,
                suppressed: str | None = "suppressed", suppressed_label: str | None = None,
                threshold: int | None = None, empty_label: str = "no answers",
                xlabel: str = "Share of respondents (%)", ylabel: str = "Statement",
                apart_xlabel: str = "% of all answers", sides: tuple[str, str] = ("disagree", "agree"),
                palette: Any = None, annot_min: float = 8.0, fmt: str = ".0f") -> HtmlFigure:
    """The diverging stacked bars of :func:`likert_bars`, written as HTML and CSS.

    Same input, validation, layout rules and colours as :func:`likert_bars`: the neutral share
    straddles the centre line, disagreement extends left and agreement right, answers kept apart
    from the scale ("Don't know") get their own column as a share of all answers, a statement with
    no answers at some level still plots (that segment has zero width), statements follow
    ``order`` under their group headings, and labels come from ``labels``, ``level_labels`` and
    ``apart_labels``. Statement text wraps in the page, never truncated.

    Why HTML: a pack's statement chart carries about 5,000 characters of statement text. Drawn
    by Matplotlib it took about 2 s of a pack's 3.5 s and was the largest image of the PDF; as
    markup it takes milliseconds, the text stays selectable and searchable, screen readers can
    reach the table that follows, and the browser and WeasyPrint print it as vector text.

    Parameters
    ----------
    data, statement, level, count, order, labels, level_order, level_labels, apart, apart_labels,
    neutral, group, group_labels, suppressed, suppressed_label, threshold, empty_label, palette,
    annot_min, fmt
        As in :func:`likert_bars` (``annot_min``: a segment's share is written in it from this
        many percent).
    title
        Caption above the chart; default ``"Answers to each statement"``.
    alt
        Text alternative (``aria-label`` of the ``role="img"`` element); default a sentence
        naming the chart and the number of statements.
    xlabel, ylabel, apart_xlabel
        Axis titles: under the scale, over the statement column, under the apart column.
    sides
        Words for the two directions of the scale, written under it with arrows.

    Returns
    -------
    HtmlFigure
        ``.html`` holds the markup; every segment is a ``<span class="lk-seg">`` with
        ``data-statement``, ``data-level``, ``data-share`` (percent, full precision) and a
        ``title`` tooltip; ``.lk-centre`` is the centre line. Suppressed and empty rows carry
        ``<span class="lk-note" data-kind="suppressed|empty">`` and no segment.

    Raises
    ------
    ValueError
        As :func:`likert_bars`.

    Examples
    --------
    >>> counts = pd.DataFrame({"item_id": ["S1"] * 6, "level": [1, 2, 3, 4, 5, "dont_know"],
    ...                        "count": [1, 2, 4, 6, 7, 2]})
    >>> chart = likert_html(counts, labels={"S1": "We work with partners"})
    >>> chart.html.count('class="lk-seg"')
    6
    """
    from matplotlib.colors import to_hex

    d = _likert_data(data, func="likert_html", statement=statement, level=level, count=count, order=order,
                     labels=labels, level_order=level_order, level_labels=level_labels, apart=apart,
                     apart_labels=apart_labels, neutral=neutral, group=group, group_labels=group_labels,
                     suppressed=suppressed, suppressed_label=suppressed_label, threshold=threshold, palette=palette)
    esc = _html.escape
    limit = d.limit
    title = "Answers to each statement" if title is None else title
    n_statements = sum(kind == "statement" for kind, *_ in d.rows)
    alt = alt or (f"Diverging stacked bar chart of the answers to {n_statements} statements: disagreement to the "
                  "left of the centre line, agreement to the right.")
    apart_rows = set(d.apart_rows()) if d.show_apart else set()
    index = {s: i for i, s in enumerate(d.drawn)}
    hexes = {k: to_hex(c) for k, c in d.color_of.items()}
    ink = {k: _text_color(c) for k, c in d.color_of.items()}
    apart_hex = {k: to_hex(APART_COLORS[n % len(APART_COLORS)]) for n, k in enumerate(d.apart_keys)}

    def x(value: float) -> float:          # percent of the track for a share position in [-limit, limit]
        return 50.0 + 50.0 * value / limit

    figure_class = "lk" if d.show_apart else "lk lk-noapart"
    out: list[str] = [f"<style>{LIKERT_HTML_CSS}</style>", f'<figure class="{figure_class}">',
                      f"<figcaption>{esc(title)}</figcaption>"]
    legend = [f'<span><i class="lk-key" style="background-color:{hexes[k]}"></i>{esc(d.legend_text.get(k, k))}</span>'
              for k in d.scale_keys]
    legend += [f'<span><i class="lk-key" style="background-color:{apart_hex[k]}"></i>{esc(d.apart_names[k])} '
               "</span>" for k in d.apart_keys if d.show_apart]
    out.append(f'<div class="lk-legend" aria-hidden="true">{"".join(legend)}</div>')
    out.append(f'<div class="lk-body" role="img" aria-label="{esc(alt)}">')
    apart_head = f'<div class="lk-apart lk-head" style="border:0">{esc(", ".join(d.apart_names.values()))}</div>' \
        if d.show_apart else ""
    out.append(f'<div class="lk-row"><div class="lk-label lk-head">{esc(ylabel)}</div>'
               f'<div class="lk-track lk-head"></div>{apart_head}</div>')
    for kind, key, text in d.rows:
        if kind == "group":
            out.append(f'<div class="lk-group">{esc(text)}</div>')
            continue
        cells: list[str] = []
        if key in index:
            i = index[key]
            for lev in d.scale_keys:
                share = float(d.shares.at[key, lev])
                if share <= 0:
                    continue
                left = float(d.lefts[lev][i])
                label = format(share, fmt) if share >= annot_min else ""
                if label and lev == d.neutral_key:  # on the centre line: a backing keeps the digits clear of it
                    label = f'<b style="background-color:{hexes[lev]}">{label}</b>'
                name = d.legend_text.get(lev, lev)
                cells.append(f'<span class="lk-seg" data-statement="{esc(str(key))}" data-level="{esc(lev)}" '
                             f'data-share="{share!r}" title="{esc(name)}: {format(share, fmt)}%" '
                             f'style="left:{_pct(x(left))};width:{_pct(50.0 * share / limit)};'
                             f'background-color:{hexes[lev]};color:{ink[lev]}">{label}</span>')
        else:
            kind_note, note = ("suppressed", d.note) if key in d.flagged else ("empty", empty_label)
            cells.append(f'<span class="lk-note" data-kind="{kind_note}">{esc(note)}</span>')
        cells.append('<span class="lk-centre"></span>')
        apart_cell = ""
        if d.show_apart:
            parts, left = [], 0.0
            if key in apart_rows:
                for k in d.apart_keys:
                    share = float(d.apart_shares.at[key, k])
                    if share > 0:
                        parts.append(f'<span class="lk-seg" data-statement="{esc(str(key))}" data-level="{esc(k)}" '
                                     f'data-share="{share!r}" title="{esc(d.apart_names[k])}: {format(share, fmt)}%" '
                                     f'style="left:{_pct(left)};width:{_pct(share)};'
                                     f'background-color:{apart_hex[k]}"></span>')
                    left += share
                parts.append(f'<span class="lk-value" style="left:{_pct(min(left, 80.0))}">{format(left, fmt)}</span>')
            apart_cell = f'<div class="lk-apart">{"".join(parts)}</div>'
        out.append(f'<div class="lk-row"><div class="lk-label">{esc(text)}</div>'
                   f'<div class="lk-track">{"".join(cells)}</div>{apart_cell}</div>')
    step = 25.0 if limit > 50 else 10.0
    ticks = np.arange(-limit, limit + 1e-9, step)
    tick_html = "".join(f'<span class="lk-tick" style="left:{_pct(x(t))}">{format(abs(t), "g")}</span>' for t in ticks)
    apart_axis = ('<div class="lk-apart">' + "".join(f'<span class="lk-tick" style="left:{v}%">{v}</span>'
                                                     for v in (0, 50, 100)) + "</div>") if d.show_apart else ""
    out.append(f'<div class="lk-row lk-axis"><div class="lk-label"></div><div class="lk-track">{tick_html}</div>'
               f"{apart_axis}</div>")
    apart_label = f'<div class="lk-apart lk-xlabel" style="border:0">{esc(apart_xlabel)}</div>' if d.show_apart else ""
    out.append(f'<div class="lk-row"><div class="lk-label"></div><div class="lk-track lk-xlabel">'
               f"&larr; {esc(sides[0])} &middot; {esc(xlabel)} &middot; {esc(sides[1])} &rarr;</div>{apart_label}</div>")
    out.append("</div></figure>")
    return HtmlFigure("\n".join(out), title=title, alt=alt)


# --------------------------------------------------------------------------------------------
# change between waves
# --------------------------------------------------------------------------------------------
def _new_axes(figsize: tuple[float, float]) -> Axes:
    """A fresh Axes on a ``Figure`` not registered with pyplot (shown only where it is displayed)."""
    return Figure(figsize=figsize, layout="constrained").add_subplot()


def dumbbell(data: pd.DataFrame, *, unit: str = "unit_id", before: str = "mean_from", after: str = "mean_to",
             order: Sequence[Any] | None = None, labels: Mapping[Any, str] | None = None,
             before_label: str = "Previous wave", after_label: str = "This wave",
             low: str | None = None, high: str | None = None, title: str | None = None, ax: Axes | None = None,
             ci_label: str = "95% confidence interval", xlabel: str = SCALE_LABEL, ylabel: str = "Enabler",
             missing_label: str = "not available", vmin: float = 1, vmax: float = 5, wrap: int = 32,
             suppressed: str | None = "suppressed") -> Axes:
    """Change since the previous wave: one row per enabler, a dot for each wave joined by a line.

    Parameters
    ----------
    data
        One council's (or the cohort's) rows, one per enabler, e.g. ``compare.wave_change``
        filtered to a council (``unit_id, mean_from, mean_to``).
    unit, before, after
        Columns: the row (enabler id), the previous wave's value and this wave's value.
    order, labels
        Rows top to bottom (default first appearance; the instrument order is best) and
        id -> row label, wrapped at ``wrap`` characters.
    before_label, after_label
        Legend text for the two dots.
    low, high, ci_label
        Optional columns with the lower and upper end of an interval around ``after`` on the
        same 1-5 scale (e.g. the 95% CI of this wave's mean), drawn as a whisker with end caps.
        Pass both or neither.
    title
        Axes title; default ``"Change since the previous wave"``.
    ax
        Axes to draw on; by default a new one on a ``Figure`` not registered with pyplot.
    xlabel, ylabel
        Axis labels.
    missing_label
        Row text when neither value exists (e.g. a suppressed enabler).
    vmin, vmax
        Scale ends: the x axis spans them with a tick at every integer.
    suppressed
        Boolean column whose flagged rows are drawn as missing (see the module docstring).

    Returns
    -------
    matplotlib.axes.Axes
        ``Line2D`` with ``gid="before"`` and ``gid="after"`` hold the dots (x data = values in
        ``order``, NaN where missing; y data = row positions 0, 1, ...); the ``LineCollection``
        with ``gid="change"`` joins the rows that have both values; the ``Line2D`` with
        ``gid="ci"`` holds the whiskers as ``low, high, NaN`` triples. The first row is at the top.

    Raises
    ------
    ValueError
        A column is missing, a row appears twice, or only one of ``low``/``high`` is passed.
    """
    func = "dumbbell"
    _check_columns(data, func, unit=unit, before=before, after=after, low=low, high=high)
    if (low is None) != (high is None):
        raise ValueError(f"{func}(): pass both low= and high= to draw the interval, or neither; "
                         f"got low={low!r}, high={high!r}.")
    _check_unique(data, [unit], func, "Filter the table to one council and one pair of waves first.")
    data = _masked(data, [before, after, low, high], suppressed)
    units = _unit_order(data, unit, order)
    table = data.set_index(unit).reindex(units)
    b = table[before].to_numpy(dtype="float64")
    a = table[after].to_numpy(dtype="float64")
    y = np.arange(len(units), dtype="float64")
    if ax is None:
        ax = _new_axes((8.0, 0.5 * len(units) + 2.0))
    colors = sns.color_palette(DEFAULT_PALETTE, 8)
    before_color, after_color = colors[7], colors[0]          # grey, blue
    both = ~(np.isnan(b) | np.isnan(a))
    ax.hlines(y[both], b[both], a[both], color="#8c8c8c", linewidth=2.2, zorder=2, gid="change")
    handles: list[Any] = []
    if low is not None and high is not None:
        lo = table[low].to_numpy(dtype="float64")
        hi = table[high].to_numpy(dtype="float64")
        has = ~(np.isnan(lo) | np.isnan(hi) | np.isnan(a))
        xs = np.column_stack([lo, hi, np.full(len(units), np.nan)])[has].ravel()
        ys = np.column_stack([y, y, np.full(len(units), np.nan)])[has].ravel()
        (ci,) = ax.plot(xs, ys, color=after_color, linewidth=1.2, marker="|", markersize=9, zorder=3,
                        label=ci_label, gid="ci")
        handles.append(ci)
    (pb,) = ax.plot(b, y, linestyle="none", marker="o", markersize=8, markerfacecolor="white",
                    markeredgecolor=before_color, markeredgewidth=2.0, zorder=4, label=before_label, gid="before")
    (pa,) = ax.plot(a, y, linestyle="none", marker="o", markersize=8, color=after_color, zorder=5,
                    label=after_label, gid="after")
    handles = [pb, pa, *handles]
    for yi in y[np.isnan(b) & np.isnan(a)]:
        ax.text(vmin, yi, missing_label, ha="left", va="center", fontsize="small", style="italic",
                color=NOTE_COLOR, gid="missing")
    _scale_rows(ax, units, labels=labels, wrap=wrap, vmin=vmin, vmax=vmax, xlabel=xlabel, ylabel=ylabel)
    ax.set_title("Change since the previous wave" if title is None else title, loc="left", fontweight="bold", pad=24)
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=len(handles), frameon=False,
              fontsize="small")
    sns.despine(ax=ax, left=True)
    return ax


# --------------------------------------------------------------------------------------------
# distribution of council means across the cohort
# --------------------------------------------------------------------------------------------
def distribution(data: pd.DataFrame, *, x: str = "unit_id", value: str = "mean", order: Sequence[Any] | None = None,
                 labels: Mapping[Any, str] | None = None, highlight: Any = None, title: str | None = None,
                 ax: Axes | None = None, council: str = "council_id", highlight_label: str | None = None,
                 points_label: str = "One council", box_label: str = "Middle half of councils (line: median)",
                 xlabel: str = SCALE_LABEL, ylabel: str = "Enabler", empty_label: str = "no councils to show",
                 vmin: float = 1, vmax: float = 5, jitter: float = 0.18, seed: int = 0, wrap: int = 32,
                 suppressed: str | None = "suppressed") -> Axes:
    """How council means spread across the cohort, per enabler: box plot plus a dot per council.

    One row per enabler (top to bottom in ``order``), the 1-5 scale across. The box spans the
    middle half of the councils (lower to upper quartile) with a line at the median; whiskers
    reach the furthest council within 1.5 box lengths. Every council is also a dot, spread
    vertically by a small seeded jitter so that equal values stay visible. A ``highlight``
    council is a distinct marker on the row's centre line, so a council can find itself.

    Parameters
    ----------
    data
        One row per council x enabler, e.g. ``comparison`` of one wave (``council_id,
        unit_id, mean, suppressed``).
    x, value
        Columns: the enabler id (one row of the figure each; named ``x`` as in :func:`heatmap`)
        and the council mean on the 1-5 scale (across).
    order, labels
        Enablers top to bottom (default first appearance; the instrument order is best) and
        id -> row label, wrapped at ``wrap`` characters.
    highlight, highlight_label, council
        A council id (a value of the ``council`` column) drawn as a diamond, with this legend
        text (default the id itself).
    title
        Axes title; default ``"How council scores vary, by enabler"``.
    ax
        Axes to draw on; by default a new one on a ``Figure`` not registered with pyplot.
    points_label, box_label, xlabel, ylabel, empty_label
        Legend, axis and empty-row text.
    vmin, vmax
        Scale ends: the x axis spans them with a tick at every integer.
    jitter, seed
        Half-height of the vertical spread of the dots (in rows) and the seed of its random
        numbers: the same data and seed always give the same figure.
    suppressed
        Boolean column whose flagged rows are left out (see the module docstring).

    Returns
    -------
    matplotlib.axes.Axes
        Row ``i`` (0 at the top) is enabler ``order[i]``. ``ax.collections`` holds the dots
        (``PathCollection`` with ``gid="councils"``, offsets ``(mean, row + jitter)``) and, with
        ``highlight``, the diamonds (``gid="highlight"``, offsets ``(mean, row)``). The box
        patches have ``gid="box"``; the median lines ``gid="median"``.

    Raises
    ------
    ValueError
        A column is missing or a council x enabler appears twice.
    """
    func = "distribution"
    _check_columns(data, func, x=x, value=value, council=council if highlight is not None else None)
    if council in data.columns:
        _check_unique(data, [council, x], func, "Filter the table to one wave and one level first.")
    units = _unit_order(data, x, order)
    data = _masked(data, [value], suppressed)
    shown = data.dropna(subset=[value])
    shown = shown[shown[x].isin(units)]
    position = {u: i for i, u in enumerate(units)}
    if ax is None:
        ax = _new_axes((8.0, 0.55 * len(units) + 2.0))
    is_highlight = (shown[council] == highlight).to_numpy() if highlight is not None else np.zeros(len(shown), bool)
    values = [shown.loc[shown[x] == u, value].to_numpy(dtype="float64") for u in units]
    filled = [i for i, v in enumerate(values) if len(v)]
    colors = sns.color_palette(DEFAULT_PALETTE, 8)
    if filled:
        orient = ({"orientation": "horizontal"} if "orientation" in inspect.signature(ax.boxplot).parameters
                  else {"vert": False})
        parts = ax.boxplot([values[i] for i in filled], positions=filled, widths=0.55, whis=1.5, showfliers=False,
                           patch_artist=True, manage_ticks=False, zorder=2,
                           boxprops={"facecolor": "#e8eef4", "edgecolor": "#4d4d4d", "linewidth": 1.0},
                           medianprops={"color": "#1a1a1a", "linewidth": 2.0},
                           whiskerprops={"color": "#4d4d4d"}, capprops={"color": "#4d4d4d"}, **orient)
        for box in parts["boxes"]:
            box.set_gid("box")
        for line in parts["medians"]:
            line.set_gid("median")
    rng = np.random.default_rng(seed)
    others = shown[~is_highlight]
    rows = others[x].map(position).to_numpy(dtype="float64")
    offsets = rng.uniform(-jitter, jitter, size=len(others))
    ax.scatter(others[value].to_numpy(dtype="float64"), rows + offsets, s=22, color=colors[0], alpha=0.75,
               edgecolors="white", linewidths=0.4, zorder=3, label=points_label, gid="councils")
    handles: list[Any] = [Line2D([], [], linestyle="none", marker="o", markersize=6, color=colors[0],
                                 markeredgecolor="white", label=points_label),
                          Patch(facecolor="#e8eef4", edgecolor="#4d4d4d", label=box_label)]
    if highlight is not None:
        mine = shown[is_highlight]
        ax.scatter(mine[value].to_numpy(dtype="float64"), mine[x].map(position).to_numpy(dtype="float64"),
                   s=90, marker="D", color=colors[1], edgecolors="black", linewidths=1.0, zorder=5,
                   label=str(highlight) if highlight_label is None else highlight_label, gid="highlight")
        handles.append(Line2D([], [], linestyle="none", marker="D", markersize=8, color=colors[1],
                              markeredgecolor="black",
                              label=str(highlight) if highlight_label is None else highlight_label))
    for i, v in enumerate(values):
        if not len(v):
            ax.text(vmin, i, empty_label, ha="left", va="center", fontsize="small", style="italic",
                    color=NOTE_COLOR, gid="empty")
    _scale_rows(ax, units, labels=labels, wrap=wrap, vmin=vmin, vmax=vmax, xlabel=xlabel, ylabel=ylabel)
    ax.set_title("How council scores vary, by enabler" if title is None else title, loc="left",
                 fontweight="bold", pad=24)
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=len(handles), frameon=False,
              fontsize="small")
    sns.despine(ax=ax, left=True)
    return ax


# --------------------------------------------------------------------------------------------
# HTML charts on the 1-5 scale (bars with a reference, dumbbells): the packs' light figures
# --------------------------------------------------------------------------------------------
#: Stylesheet of :func:`bars_html` and :func:`dumbbell_html` (travels with each chart).
SCALE_HTML_CSS = """
.sc{margin:1rem 0;font-size:.85rem;line-height:1.25;text-align:left}
.sc figcaption{font-weight:bold;font-size:1rem;margin:0 0 .35rem}
.sc-legend{margin:.2rem 0 .5rem;font-size:.78rem}
.sc-legend span{display:inline-block;margin:0 1rem .2rem 0;white-space:nowrap}
.sc-row{position:relative;min-height:1.5em;padding:.15rem 0;break-inside:avoid;page-break-inside:avoid}
.sc-label{width:32%;box-sizing:border-box;padding-right:.6rem;overflow-wrap:anywhere}
.sc-track{position:absolute;left:32%;right:7%;top:50%;height:1.3em;margin-top:-.65em}
.sc-grid{position:absolute;top:-.2em;bottom:-.2em;border-left:1px solid #e0e0e0}
.sc-bar{position:absolute;top:.1em;bottom:.1em;left:0}
.sc-val{position:absolute;top:0;font-size:.72rem;line-height:1.3em;padding-left:.3em;white-space:nowrap}
.sc-ref{position:absolute;top:-.25em;bottom:-.25em;margin-left:-1.5px;border-left:3px solid #333;z-index:3}
.sc-link{position:absolute;top:50%;height:3px;margin-top:-1.5px;background-color:#8c8c8c}
.sc-dot{position:absolute;top:50%;width:.8em;height:.8em;margin:-.4em 0 0 -.4em;border-radius:50%;
 box-sizing:border-box;z-index:2}
.sc-note{position:absolute;left:0;top:0;font-style:italic;color:#595959;font-size:.8rem;line-height:1.3em}
.sc-key{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:-.12em;box-sizing:border-box}
.sc-axis .sc-track{border-top:1px solid #757575;height:1.2em}
.sc-tick{position:absolute;top:.1em;width:3em;margin-left:-1.5em;text-align:center;font-size:.72rem;color:#424242}
.sc-xlabel{text-align:center;font-size:.78rem;color:#424242}
.sc *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
"""


def _scale_html(rows: list[tuple[Any, str, list[str]]], *, title: str, alt: str, legend: list[str],
                vmin: float, vmax: float, lo: float, hi: float, xlabel: str, ylabel: str, kind: str) -> HtmlFigure:
    """Assemble a scale chart: ``rows`` of (id, label, pieces of track markup), axis ``lo..hi``."""
    esc = _html.escape
    ticks = [float(t) for t in range(math.ceil(vmin), math.floor(vmax) + 1)]
    grid = "".join(f'<span class="sc-grid" style="left:{_pct(100 * (t - lo) / (hi - lo))}"></span>' for t in ticks)
    out = [f"<style>{SCALE_HTML_CSS}</style>", f'<figure class="sc" data-chart="{kind}">',
           f"<figcaption>{esc(title)}</figcaption>",
           f'<div class="sc-legend" aria-hidden="true">{"".join(legend)}</div>',
           f'<div class="sc-body" role="img" aria-label="{esc(alt)}">',
           f'<div class="sc-row"><div class="sc-label" style="font-weight:bold;font-size:.75rem">{esc(ylabel)}</div></div>']
    for key, label, pieces in rows:
        out.append(f'<div class="sc-row" data-unit="{esc(str(key))}"><div class="sc-label">{esc(label)}</div>'
                   f'<div class="sc-track">{grid}{"".join(pieces)}</div></div>')
    tick_html = "".join(f'<span class="sc-tick" style="left:{_pct(100 * (t - lo) / (hi - lo))}">{format(t, "g")}</span>'
                        for t in ticks)
    out.append(f'<div class="sc-row sc-axis"><div class="sc-label"></div><div class="sc-track">{tick_html}</div></div>')
    out.append(f'<div class="sc-row"><div class="sc-label"></div><div class="sc-track sc-xlabel">{esc(xlabel)}</div></div>')
    out.append("</div></figure>")
    return HtmlFigure("\n".join(out), title=title, alt=alt)


def bars_html(data: pd.DataFrame, *, enabler: str = "unit_id", value: str = "mean", reference: str | None = None,
              order: Sequence[Any] | None = None, labels: Mapping[Any, str] | None = None, vmin: float = 1,
              vmax: float = 5, color: Any = None, fmt: str = ".1f", reference_label: str = "Cohort median",
              value_label: str = "Mean score", suppressed: str | None = "suppressed",
              suppressed_text: str = "suppressed", title: str = "Scores", alt: str | None = None,
              xlabel: str = SCALE_LABEL, ylabel: str = "") -> HtmlFigure:
    """:func:`enabler_bars` as HTML and CSS: one bar per row from 0, its value written after it,
    the reference (e.g. the cohort median) a black tick across it.

    Parameters
    ----------
    data, enabler, value, reference, reference_label, order, labels, vmin, vmax, color, fmt, suppressed
        As in :func:`enabler_bars` (the axis runs from 0 to ``vmax``, ticks at every integer from
        ``vmin``). A flagged or missing value draws no bar, only ``suppressed_text``.
    value_label
        Legend text of the bars.
    title, alt
        Caption, and the text alternative (``aria-label``) of the chart.
    xlabel, ylabel
        Axis title under the scale, and heading over the row labels.

    Returns
    -------
    HtmlFigure
        Every bar is ``<span class="sc-bar" data-value="...">`` in a row ``<div class="sc-row"
        data-unit="<id>">``; references are ``<span class="sc-ref" data-value="...">``.

    Raises
    ------
    ValueError
        As :func:`enabler_bars`.
    """
    from matplotlib.colors import to_hex

    _check_columns(data, "bars_html", enabler=enabler, value=value, reference=reference)
    _check_unique(data, [enabler], "bars_html", "Filter the table to one council and wave first.")
    data = _masked(data, [value], suppressed)
    units = _unit_order(data, enabler, order)
    values = data.set_index(enabler)[value].pipe(_float_series).reindex(units).to_numpy(dtype="float64")
    ref = _reference_radii(data, enabler, reference, units, "bars_html") if reference is not None else None
    hexcolor = to_hex(color or sns.color_palette(DEFAULT_PALETTE, n_colors=1)[0])
    lo, hi = 0.0, float(vmax) + 0.35

    def pos(v: float) -> str:
        return _pct(100 * (v - lo) / (hi - lo))

    rows = []
    for i, u in enumerate(units):
        v = float(values[i])
        label_at = v if ref is None or np.isnan(ref[i]) else max(v, float(ref[i]))   # clear of the reference tick
        pieces = [f'<span class="sc-note">{_html.escape(suppressed_text)}</span>'] if np.isnan(v) else [
            f'<span class="sc-bar" data-value="{v!r}" style="width:{pos(v)};background-color:{hexcolor}"></span>',
            f'<span class="sc-val" style="left:{pos(label_at)}">{format(v, fmt)}</span>']
        if ref is not None and not np.isnan(ref[i]):
            pieces.append(f'<span class="sc-ref" data-value="{float(ref[i])!r}" style="left:{pos(float(ref[i]))}" '
                          f'title="{_html.escape(reference_label)}: {format(float(ref[i]), fmt)}"></span>')
        rows.append((u, _label(u, labels), pieces))
    esc = _html.escape
    legend = [f'<span><i class="sc-key" style="background-color:{hexcolor}"></i>{esc(value_label)}</span>']
    if ref is not None:
        legend.append(f'<span><i class="sc-key" style="border-left:3px solid #333;width:.5em"></i>'
                      f"{esc(reference_label)}</span>")
    alt = alt or f"Bar chart of {value_label.lower()} per row" + (f" with the {reference_label.lower()} marked" if ref is not None else "")
    return _scale_html(rows, title=title, alt=alt, legend=legend, vmin=vmin, vmax=vmax, lo=lo, hi=hi,
                       xlabel=xlabel, ylabel=ylabel, kind="bars")


def dumbbell_html(data: pd.DataFrame, *, unit: str = "unit_id", before: str = "mean_from", after: str = "mean_to",
                  order: Sequence[Any] | None = None, labels: Mapping[Any, str] | None = None,
                  before_label: str = "Previous wave", after_label: str = "This wave", title: str | None = None,
                  alt: str | None = None, xlabel: str = SCALE_LABEL, ylabel: str = "Enabler",
                  missing_label: str = "not available", vmin: float = 1, vmax: float = 5, fmt: str = ".2f",
                  suppressed: str | None = "suppressed") -> HtmlFigure:
    """:func:`dumbbell` as HTML and CSS: per row a hollow dot for the previous wave, a filled dot
    for this wave, joined by a line.

    Parameters
    ----------
    data, unit, before, after, order, labels, before_label, after_label, xlabel, ylabel, missing_label, vmin, vmax, suppressed
        As in :func:`dumbbell` (no interval whiskers). A row with neither value shows
        ``missing_label``; a row with one value shows that dot only.
    title, alt
        Caption (default ``"Change since the previous wave"``) and text alternative.
    fmt
        Format of the values in each dot's tooltip.

    Returns
    -------
    HtmlFigure
        Dots are ``<span class="sc-dot" data-wave="before|after" data-value="...">`` in rows
        ``<div class="sc-row" data-unit="<id>">``; the joining line is ``<span class="sc-link">``.

    Raises
    ------
    ValueError
        A column is missing or a row appears twice.
    """
    from matplotlib.colors import to_hex

    func = "dumbbell_html"
    _check_columns(data, func, unit=unit, before=before, after=after)
    _check_unique(data, [unit], func, "Filter the table to one council and one pair of waves first.")
    data = _masked(data, [before, after], suppressed)
    units = _unit_order(data, unit, order)
    table = data.set_index(unit).reindex(units)
    b = table[before].to_numpy(dtype="float64")
    a = table[after].to_numpy(dtype="float64")
    colors = sns.color_palette(DEFAULT_PALETTE, 8)
    before_color, after_color = to_hex(colors[7]), to_hex(colors[0])         # grey, blue
    lo, hi = float(vmin) - 0.1, float(vmax) + 0.1
    esc = _html.escape

    def pos(v: float) -> str:
        return _pct(100 * (v - lo) / (hi - lo))

    def dot(v: float, wave: str, name: str) -> str:
        style = (f"background-color:#fff;border:2.5px solid {before_color}" if wave == "before"
                 else f"background-color:{after_color}")
        return (f'<span class="sc-dot" data-wave="{wave}" data-value="{v!r}" title="{esc(name)}: {format(v, fmt)}" '
                f'style="left:{pos(v)};{style}"></span>')

    rows = []
    for i, u in enumerate(units):
        pieces: list[str] = []
        if np.isnan(b[i]) and np.isnan(a[i]):
            pieces.append(f'<span class="sc-note">{esc(missing_label)}</span>')
        if not (np.isnan(b[i]) or np.isnan(a[i])):
            left, right = min(b[i], a[i]), max(b[i], a[i])
            pieces.append(f'<span class="sc-link" style="left:{pos(left)};width:{_pct(100 * (right - left) / (hi - lo))}">'
                          "</span>")
        if not np.isnan(b[i]):
            pieces.append(dot(float(b[i]), "before", before_label))
        if not np.isnan(a[i]):
            pieces.append(dot(float(a[i]), "after", after_label))
        rows.append((u, _label(u, labels), pieces))
    legend = [f'<span><i class="sc-key" style="border-radius:50%;border:2.5px solid {before_color}"></i>'
              f"{esc(before_label)}</span>",
              f'<span><i class="sc-key" style="border-radius:50%;background-color:{after_color}"></i>'
              f"{esc(after_label)}</span>"]
    title = "Change since the previous wave" if title is None else title
    alt = alt or f"Dumbbell chart of each row's value in the {before_label.lower()} and {after_label.lower()}"
    return _scale_html(rows, title=title, alt=alt, legend=legend, vmin=vmin, vmax=vmax, lo=lo, hi=hi,
                       xlabel=xlabel, ylabel=ylabel, kind="dumbbell")



# --------------------------------------------------------------------------------------------
# spider diagram as SVG (the pack's first screen)
# --------------------------------------------------------------------------------------------
SPIDER_SVG_CSS = """
.sp{margin:1rem 0;font-size:.85rem;text-align:left;break-inside:avoid;page-break-inside:avoid}
.sp figcaption{font-weight:bold;font-size:1rem;margin:0 0 .35rem}
.sp-legend{margin:.2rem 0 .3rem;font-size:.78rem}
.sp-legend span{display:inline-block;margin:0 1rem .2rem 0;white-space:nowrap}
.sp-key{display:inline-block;width:1.4em;height:.9em;margin-right:.3em;vertical-align:-.12em;box-sizing:border-box}
.sp svg{display:block;width:100%;max-width:46rem;height:auto}
.sp *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
"""


def _svg_outline(points: list[tuple[float, float] | None]) -> str:
    """SVG path data of a closed polygon through ``points``, broken where a point is ``None``."""
    n = len(points)
    if all(p is not None for p in points):
        return "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in points) + " Z"  # type: ignore[misc]
    parts = []
    for k in range(n):
        a, b = points[k], points[(k + 1) % n]
        if a is not None and b is not None:
            parts.append(f"M{a[0]:.1f},{a[1]:.1f} L{b[0]:.1f},{b[1]:.1f}")
    return " ".join(parts)


def spider_svg(data: pd.DataFrame, *, enabler: str = "unit_id", value: str = "mean",
               order: Sequence[Any] | None = None, labels: Mapping[Any, str] | None = None, vmin: float = 1,
               vmax: float = 5, series_label: str = "Council", color: Any = None, reference: str | None = None,
               reference_label: str = "Cohort median", band_low: str | None = None, band_high: str | None = None,
               band_label: str = "Cohort interquartile range", band_color: Any = BAND_COLOR,
               suppressed: str | None = "suppressed", title: str | None = None, alt: str | None = None,
               wrap: int = WRAP_WIDTH, fmt: str = ".2f") -> HtmlFigure:
    """One council's spider diagram as inline SVG: :func:`spider`'s scoring-tool view without a render.

    The first enabler is at 12 o'clock and the spokes go clockwise; rings mark every integer from
    ``vmin`` to ``vmax`` and the centre sits a quarter of the scale below ``vmin`` (as in
    :func:`spider`), so a value of ``vmin`` is still a visible point. The council's polygon (filled
    lightly when complete) lies over the dashed reference polygon and the shaded band between the
    cohort's quartiles. A missing or suppressed value is a gap, never a 0: the outline breaks either
    side of the spoke and the polygon is not filled.

    Parameters
    ----------
    data
        One council's rows, one per enabler.
    enabler, value, order, labels, vmin, vmax, reference, reference_label, band_low, band_high, band_label, band_color, suppressed, wrap
        As in :func:`spider` (one series only).
    series_label, color
        Legend text and colour of the council's polygon (default the first colour-blind-safe colour).
    title, alt
        Caption, and the text alternative (the SVG's ``aria-label`` and ``<title>``).
    fmt
        Format of the values in the vertices' tooltips.

    Returns
    -------
    HtmlFigure
        The SVG holds ``<path class="sp-series" data-values="...">`` (radii in ``order``, ``nan``
        where missing), ``<path class="sp-reference">``, ``<path class="sp-band">`` and one
        ``<circle class="sp-point" data-unit="..." data-value="...">`` per shown value.

    Raises
    ------
    ValueError
        A column is missing, fewer than 3 enablers, an enabler appears twice, only one of
        ``band_low``/``band_high`` is passed, or a band's low value is above its high value.
    """
    from matplotlib.colors import to_hex

    func = "spider_svg"
    _check_columns(data, func, enabler=enabler, value=value, reference=reference, band_low=band_low,
                   band_high=band_high)
    if (band_low is None) != (band_high is None):
        raise ValueError(f"{func}(): pass both band_low= and band_high= to draw the cohort band, or neither; "
                         f"got band_low={band_low!r}, band_high={band_high!r}.")
    units = _unit_order(data, enabler, order)
    if len(units) < 3:
        raise ValueError(f"{func}() needs at least 3 enablers to draw a polygon, got {len(units)}: {units}.")
    _check_unique(data, [enabler], func, "Filter the table to one council and wave first.")
    data = _masked(data, [value], suppressed)
    values = data.set_index(enabler)[value].pipe(_float_series).reindex(units).to_numpy(dtype="float64")
    esc = _html.escape
    n = len(units)
    width, height, cx, cy, radius = 820.0, 600.0, 410.0, 300.0, 215.0
    r0 = vmin - (vmax - vmin) / 4.0

    def xy(k: int | float, v: float) -> tuple[float, float]:
        theta = -np.pi / 2 + 2 * np.pi * k / n
        r = radius * (v - r0) / (vmax - r0)
        return cx + r * math.cos(theta), cy + r * math.sin(theta)

    def points(vals: np.ndarray) -> list[tuple[float, float] | None]:
        return [None if np.isnan(v) else xy(k, float(v)) for k, v in enumerate(vals)]

    hexcolor = to_hex(color or sns.color_palette(DEFAULT_PALETTE, n_colors=1)[0])
    band_hex = to_hex(band_color)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
           f'aria-label="{esc(alt or title or "Spider diagram")}"><title>{esc(alt or title or "Spider diagram")}</title>']
    ticks = list(range(math.ceil(vmin), math.floor(vmax) + 1))
    for t in ticks:
        r = radius * (t - r0) / (vmax - r0)
        out.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r:.1f}" fill="none" stroke="#d0d0d0" stroke-width="1"/>')
    for k in range(n):
        x, y = xy(k, vmax)
        out.append(f'<line x1="{cx:.1f}" y1="{cy:.1f}" x2="{x:.1f}" y2="{y:.1f}" stroke="#d0d0d0" stroke-width="1"/>')
    legend = []
    if band_low is not None and band_high is not None:
        low = _reference_radii(data, enabler, band_low, units, func)
        high = _reference_radii(data, enabler, band_high, units, func)
        bad = ~(np.isnan(low) | np.isnan(high)) & (low > high)
        if bad.any():
            raise ValueError(f"{func}(): the band's low value is above its high value for {enabler}="
                             f"{units[int(np.flatnonzero(bad)[0])]!r}; check band_low= and band_high=.")
        rings = _band_rings(np.arange(n, dtype="float64"), low, high)
        d = " ".join("M" + " L".join("{:.1f},{:.1f}".format(*xy(k, r)) for k, r in ring) + " Z" for ring in rings)
        if d:
            out.append(f'<path class="sp-band" d="{d}" fill="{band_hex}" fill-opacity="0.35" fill-rule="evenodd" '
                       'stroke="none"/>')
        legend.append(f'<span><i class="sp-key" style="background-color:{band_hex};opacity:.6"></i>'
                      f"{esc(band_label)}</span>")
    if reference is not None:
        ref = _reference_radii(data, enabler, reference, units, func)
        out.append(f'<path class="sp-reference" d="{_svg_outline(points(ref))}" fill="none" stroke="{REFERENCE_COLOR}" '
                   'stroke-width="2" stroke-dasharray="7 4"/>')
        legend.insert(0, f'<span><i class="sp-key" style="border-top:2.5px dashed {REFERENCE_COLOR};height:0;'
                         f'vertical-align:.25em"></i>{esc(reference_label)}</span>')
    series = points(values)
    complete = all(p is not None for p in series)
    data_values = " ".join("nan" if np.isnan(v) else repr(float(v)) for v in values)
    out.append(f'<path class="sp-series" data-values="{data_values}" d="{_svg_outline(series)}" '
               f'fill="{hexcolor if complete else "none"}" fill-opacity="0.15" stroke="{hexcolor}" stroke-width="2.5"/>')
    for k, (u, pt) in enumerate(zip(units, series)):
        if pt is not None:
            out.append(f'<circle class="sp-point" data-unit="{esc(str(u))}" data-value="{float(values[k])!r}" '
                       f'cx="{pt[0]:.1f}" cy="{pt[1]:.1f}" r="4" fill="{hexcolor}"><title>{esc(_label(u, labels))}: '
                       f"{format(float(values[k]), fmt)}</title></circle>")
    legend.insert(0, f'<span><i class="sp-key" style="background-color:{hexcolor}"></i>{esc(series_label)}</span>')
    for t in ticks:                                        # ring values along the gap between the first two spokes
        x, y = xy(0.5, t)
        out.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="12" fill="#555555" text-anchor="middle" '
                   f'dominant-baseline="middle">{t}</text>')
    for k, u in enumerate(units):                          # spoke labels outside the outer ring
        theta = -np.pi / 2 + 2 * np.pi * k / n
        c, s_ = math.cos(theta), math.sin(theta)
        x, y = cx + (radius + 16) * c, cy + (radius + 16) * s_
        anchor = "middle" if abs(c) < 0.3 else ("start" if c > 0 else "end")
        lines = _wrap(_label(u, labels), wrap).split("\n")
        first_dy = -(len(lines) - 1) * 1.15 if s_ < -0.3 else (0.0 if s_ > 0.3 else -(len(lines) - 1) * 0.575)
        spans = "".join(f'<tspan x="{x:.1f}" dy="{(first_dy + 0.35) if i == 0 else 1.15:.2f}em">{esc(line)}</tspan>'
                        for i, line in enumerate(lines))
        out.append(f'<text class="sp-label" data-unit="{esc(str(u))}" y="{y:.1f}" font-size="14" '
                   f'text-anchor="{anchor}">{spans}</text>')
    out.append("</svg>")
    caption = f"<figcaption>{esc(title)}</figcaption>" if title else ""
    markup = (f"<style>{SPIDER_SVG_CSS}</style><figure class=\"sp\">{caption}"
              f'<div class="sp-legend" aria-hidden="true">{"".join(legend)}</div>{"".join(out)}</figure>')
    return HtmlFigure(markup, title=title or "", alt=alt or title or "Spider diagram")
