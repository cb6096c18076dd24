"""Privacy: small-group suppression (this module also holds ingest-time protections).

Reports never show statistics for a group smaller than the disclosure threshold.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def suppress_small_groups(data: pd.DataFrame, *, n: str = "n", threshold: int,
                          values: Sequence[str] | None = None) -> pd.DataFrame:
    """Blank the statistics of rows whose group size is below the disclosure threshold.

    Parameters
    ----------
    data
        A summary table with one row per group.
    n
        Column holding the group size.
    threshold
        Disclosure threshold: rows with ``n < threshold`` are suppressed. ``0`` or ``1`` disables.
    values
        Columns to blank; by default every numeric column except ``n``.

    Returns
    -------
    pandas.DataFrame
        A copy with the value columns set to NaN on suppressed rows and a boolean column
        ``suppressed``. ``n`` itself is kept so that readers can see why.
    """
    out = data.copy()
    if values is None:
        values = [c for c in out.columns if c != n and c != "suppressed" and pd.api.types.is_numeric_dtype(out[c])]
    mask = (out[n].fillna(0).to_numpy() < threshold)
    out["suppressed"] = mask
    if mask.any():
        for col in values:
            out[col] = out[col].astype("float64")
            out.loc[mask, col] = np.nan
    return out
