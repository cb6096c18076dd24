"""Drawing the diagnostic: heatmap, spider (radar) diagrams and bars. No statistics here.

Every function takes a tidy table that :mod:`analysis.scoring` or :mod:`analysis.compare` computed
(``data`` first, keyword-only column names), draws it, and returns the Axes (or the Figure for the
small-multiples grid). Nothing is saved or shown here: saving is :func:`analysis.reports.save_figure`'s
job and a notebook shows the figure itself (seaborn convention).

Missing values
--------------
A statistic blanked by small-group suppression (NaN) is never drawn as a number:

* :func:`heatmap` draws the cell hatched grey and adds a legend note ``suppressed (n < k)``;
* :func:`spider` / :func:`spider_grid` break the polygon's outline at the missing enabler (the
  line segments to and from it are not drawn, no marker is placed, and nothing is drawn at 0); the
  translucent fill is drawn only for polygons with no missing point, so no filled area implies a
  value that is not there;
* :func:`enabler_bars` draws a zero-width bar labelled ``suppressed``.

Every function also takes ``suppressed="suppressed"``: when the table has that boolean column
(``comparison`` does, and keeps the means of suppressed rows for internal use), the values of
flagged rows are treated as missing, so a figure can never disclose a suppressed group's value.
Pass ``suppressed=None`` to switch this off.
"""

from __future__ import annotations

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
from matplotlib.patches import Patch, Rectangle

logger = logging.getLogger(__name__)

#: Diverging ColorBrewer palette marked colour-blind safe; centred at the scale midpoint.
DEFAULT_CMAP = "RdBu"
#: Qualitative palette for series (Okabe-Ito style, colour-blind safe).
DEFAULT_PALETTE = "colorblind"
#: Characters per line of wrapped enabler labels.
WRAP_WIDTH = 18
#: Look of a suppressed heatmap cell.
SUPPRESSED_FACE = "#e0e0e0"
SUPPRESSED_EDGE = "#8c8c8c"
SUPPRESSED_HATCH = "///"
#: Look of the cohort reference polygon / marker.
REFERENCE_COLOR = "#333333"


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
def heatmap(data: pd.DataFrame, *, x: str = "unit_id", y: str = "council_name", value: str = "mean",
            ax: Axes | None = None, vmin: float = 1, vmax: float = 5, center: float | None = 3,
            annot: bool = True, fmt: str = ".1f", cmap: Any = DEFAULT_CMAP,
            labels: Mapping[Any, str] | None = None, order: Sequence[Any] | None = None,
            threshold: int | None = None, suppressed: str | None = "suppressed") -> Axes:
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
        Column order; default order of first appearance. Rows keep the order of first appearance.
    threshold
        Disclosure threshold, used only in the legend note for suppressed cells.
    suppressed
        Boolean column whose flagged rows are drawn as suppressed whatever their value (see the
        module docstring); ignored when absent.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax.collections[0]`` is the seaborn QuadMesh whose array holds the table row by row
        (masked where suppressed). Suppressed (NaN) cells are covered by hatched grey rectangles
        and a legend note ``suppressed (n < threshold)`` is added when there is at least one.

    Raises
    ------
    ValueError
        A column is missing or two rows describe the same cell.
    """
    _check_columns(data, "heatmap", x=x, y=y, value=value)
    _check_unique(data, [y, x], "heatmap", f"Filter the table to one wave/level so that each {y} x {x} appears once.")
    rows = list(pd.unique(data[y]))
    cols = _unit_order(data, x, order)
    table = (_masked(data, [value], suppressed)
             .pivot(index=y, columns=x, values=value)
             .reindex(index=rows, columns=cols))
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
    for i, j in missing:
        ax.add_patch(Rectangle((j, i), 1, 1, facecolor=SUPPRESSED_FACE, edgecolor=SUPPRESSED_EDGE,
                               hatch=SUPPRESSED_HATCH, linewidth=0, zorder=2, gid="suppressed"))
    if len(missing):
        note = f"suppressed (n < {threshold})" if threshold is not None else "suppressed (n < threshold)"
        ax.legend(handles=[Patch(facecolor=SUPPRESSED_FACE, edgecolor=SUPPRESSED_EDGE, hatch=SUPPRESSED_HATCH, label=note)],
                  loc="lower left", bbox_to_anchor=(0.0, 1.01), frameon=False, fontsize="small")
    ax.set_xlabel("")
    ax.set_ylabel("")
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
           suppressed: str | None = "suppressed") -> Axes:
    """Spider (radar) diagram: one closed polygon per ``hue`` level over the enablers.

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
        Add a legend.
    suppressed
        Boolean column whose flagged rows are drawn as missing (see the module docstring).

    Returns
    -------
    matplotlib.axes.Axes
        The polar Axes. Each polygon is a ``Line2D`` labelled with its level whose ``get_ydata()``
        are the radii in ``order``, closed by repeating the first.

    Raises
    ------
    ValueError
        ``ax`` is not polar, a column is missing, fewer than 3 enablers, or a (level, enabler)
        pair appears twice.

    Notes
    -----
    A missing value (NaN, e.g. suppressed) is a gap, never a 0: the outline is broken either side
    of that spoke and the polygon is not filled (see the module docstring).
    """
    _check_columns(data, "spider", enabler=enabler, value=value, hue=hue, reference=reference)
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
    levels = [None] if hue is None else list(pd.unique(data[hue].dropna()))
    colors = sns.color_palette(palette or DEFAULT_PALETTE, n_colors=max(len(levels), 1))
    for level, color in zip(levels, colors):
        sub = data if level is None else data[data[hue] == level]
        radii = sub.set_index(enabler)[value].pipe(_float_series).reindex(units).to_numpy(dtype="float64")
        _draw_polygon(ax, angles, radii, color=color, label=str(value if level is None else level), fill=fill,
                      gid="series")
    if reference is not None:
        _draw_polygon(ax, angles, _reference_radii(data, enabler, reference, units, "spider"),
                      color=REFERENCE_COLOR, label=reference_label, fill=False, linestyle="--", marker=None,
                      gid="reference")
    if legend:
        ax.legend(loc="upper right", bbox_to_anchor=(1.25, 1.12), fontsize="small", frameon=False)
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
