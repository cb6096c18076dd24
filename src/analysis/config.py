"""Paths and settings.

Paths are built from this file's location, never from the working directory. Analysis decisions
live in ``settings.yml`` (next to this file); :func:`load_settings` reads it once, optionally
overlaid with a user file, and ``pipeline``/``cli`` pass the values down as arguments.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from .exceptions import ConfigError

PACKAGE_DIR: Path = Path(__file__).resolve().parent
#: The repository root when the package is used from a checkout (``pip install -e .``).
PROJECT_ROOT: Path = PACKAGE_DIR.parents[1]
INSTRUMENTS_DIR: Path = PACKAGE_DIR / "instruments"
NOTEBOOKS_DIR: Path = PROJECT_ROOT / "notebooks"
DATA_DIR: Path = PROJECT_ROOT / "data"
RAW_DIR: Path = DATA_DIR / "raw"
PROCESSED_DIR: Path = DATA_DIR / "processed"
KEYS_DIR: Path = DATA_DIR / "keys"
REPORTS_DIR: Path = PROJECT_ROOT / "reports"
DEFAULT_SETTINGS_FILE: Path = PACKAGE_DIR / "settings.yml"
DEFAULT_INSTRUMENT: str = "margins_to_mainstream"
DEMO_COHORT: str = "demo"
#: A file with this name in a cohort folder marks its data as synthetic; every report says so.
SYNTHETIC_MARKER: str = "SYNTHETIC_DATA.txt"


def _merge(base: dict[str, Any], extra: dict[str, Any], where: str) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if key not in out:
            raise ConfigError(f"unknown setting {where}{key!r}", hint=f"Known settings here: {sorted(out)}.")
        if isinstance(out[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"setting {where}{key!r} must be a mapping, not {value!r}")
            out[key] = _merge(out[key], value, f"{where}{key}.")
        else:
            out[key] = value
    return out


def load_settings(path: str | Path | None = None) -> dict[str, Any]:
    """Return the analysis settings: the package defaults overlaid with ``path`` if given.

    Parameters
    ----------
    path
        Optional YAML file with the same structure as ``analysis/settings.yml``; only the keys it
        names are changed. Unknown keys are an error (a misspelt setting must not be ignored).

    Raises
    ------
    ConfigError
        If a file cannot be parsed or names an unknown setting.
    """
    with open(DEFAULT_SETTINGS_FILE, encoding="utf-8") as fh:
        settings = yaml.safe_load(fh)
    if path is None:
        return settings
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fh:
            extra = yaml.safe_load(fh) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read settings: {exc}", path=path) from exc
    if not isinstance(extra, dict):
        raise ConfigError("settings file must be a YAML mapping", path=path)
    return _merge(settings, extra, "")


def cohort_paths(raw_cohort_dir: str | Path, *, processed_dir: str | Path | None = None,
                 reports_dir: str | Path | None = None) -> dict[str, Path]:
    """Work out where a cohort's outputs go.

    A raw folder laid out as ``<root>/data/raw/<cohort>`` sends outputs to
    ``<root>/data/processed/<cohort>`` and ``<root>/reports/<cohort>``; any other raw folder uses
    this project's ``data/processed`` and ``reports``. Explicit directories win.

    Returns
    -------
    dict
        ``cohort`` (name), ``raw``, ``processed``, ``reports`` and ``keys`` (folder of salts).
    """
    raw = Path(raw_cohort_dir).resolve()
    cohort = raw.name
    if raw.parent.name == "raw" and raw.parent.parent.name == "data":
        root = raw.parent.parent.parent
    else:
        root = PROJECT_ROOT
    return {
        "cohort": cohort,  # type: ignore[dict-item]
        "raw": raw,
        "processed": Path(processed_dir).resolve() / cohort if processed_dir else root / "data" / "processed" / cohort,
        "reports": Path(reports_dir).resolve() / cohort if reports_dir else root / "reports" / cohort,
        "keys": root / "data" / "keys",
    }
