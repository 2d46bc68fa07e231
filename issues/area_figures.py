"""Issue figures per area of one level, for the issue map's choropleth: count, overdue rate, on-time rate.

The issues are the queue's own filtered list (:func:`issues.queries.list_issues`), so the map, the queue and the
exports count the same issues. Classes are found with mapclassify (Fisher–Jenks natural breaks or quantiles).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from boundaries.levels import LEVELS
from boundaries.scope import ScopedRegistry
from issues import storage as st

__all__ = ["MEASURES", "SCHEMES", "MAP_LEVELS", "area_figures", "classify"]

#: What the choropleth can show.
MEASURES = ("count", "overdue_rate", "on_time_rate")
#: How values are put into classes (mapclassify).
SCHEMES = ("natural_breaks", "quantiles")
#: The levels the choropleth is drawn at.
MAP_LEVELS = ("community", "grid", "micro_grid")


def _on_time(view: ScopedRegistry, ids: list[int]) -> pd.DataFrame:
    """Every finished stage of the given issues: ``issue_id``, ``on_time`` (escalation records not counted)."""
    with view.registry.store.engine.connect() as conn:
        rows = st.finished_stages(conn, ids)
    return pd.DataFrame([(issue_id, on_time) for issue_id, _, on_time in rows], columns=["issue_id", "on_time"])


def area_figures(view: ScopedRegistry, level: str, issues: list[dict]) -> list[dict]:
    """Per area of ``level`` in the caller's scope: name and the figures of ``issues`` located in it.

    Parameters
    ----------
    view : ScopedRegistry
        The caller's view (areas outside it are not listed).
    level : str
        One of :data:`MAP_LEVELS`.
    issues : list of dict
        Issues as :func:`issues.queries.list_issues` returns them (``id``, ``overdue``, ``<level>_code``).

    Returns
    -------
    list of dict
        ``code``, ``name``, ``count``, ``overdue``, ``overdue_rate`` (overdue ÷ count), ``finished_stages``,
        ``on_time_rate`` (stages finished on time ÷ stages finished); a rate is ``None`` when it has no
        denominator. Areas without issues are listed with count 0.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}")
    areas = view.areas(level=level)
    column = f"{level}_code"
    frame = pd.DataFrame(
        [(i["id"], i.get(column), bool(i["overdue"])) for i in issues], columns=["id", "code", "overdue"]
    )
    frame = frame[frame["code"].notna()]
    stages = _on_time(view, [int(i) for i in frame["id"]]) if len(frame) else pd.DataFrame(columns=["issue_id"])
    stages = stages.merge(frame[["id", "code"]], left_on="issue_id", right_on="id") if len(stages) else None
    counts = frame.groupby("code").agg(count=("id", "size"), overdue=("overdue", "sum"))
    finished = stages.groupby("code")["on_time"].agg(["size", "sum"]) if stages is not None else None
    out = []
    for code, name in zip(areas["code"], areas["name"], strict=True):
        n = int(counts.at[code, "count"]) if code in counts.index else 0
        late = int(counts.at[code, "overdue"]) if code in counts.index else 0
        done = int(finished.at[code, "size"]) if finished is not None and code in finished.index else 0
        on_time = int(finished.at[code, "sum"]) if done else 0
        out.append(
            {
                "code": code,
                "name": name,
                "count": n,
                "overdue": late,
                "overdue_rate": round(late / n, 4) if n else None,
                "finished_stages": done,
                "on_time_rate": round(on_time / done, 4) if done else None,
            }
        )
    return out


def classify(values: list[float | None], scheme: str = "natural_breaks", k: int = 5) -> tuple[list[dict], list]:
    """Classes of ``values`` (``None`` is "no data") and each value's class index.

    Parameters
    ----------
    values : list of float or None
    scheme : {"natural_breaks", "quantiles"}
        mapclassify's ``NaturalBreaks`` (Fisher–Jenks) or ``Quantiles``.
    k : int
        The number of classes wanted; fewer when there are fewer distinct values.

    Returns
    -------
    classes : list of dict
        ``lower``, ``upper`` (inclusive bounds, ascending) and ``count`` per class.
    index : list of int or None
        The class of each value (``None`` for no data).
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}")
    known = np.array([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    distinct = np.unique(known)
    if len(distinct) == 0:
        return [], [None] * len(values)
    if len(distinct) <= k:
        uppers = distinct.tolist()  # one class per distinct value
    else:
        import mapclassify  # here, not at the top: importing it takes seconds of every web worker's start

        with warnings.catch_warnings():  # mapclassify warns when ties leave fewer classes than asked
            warnings.simplefilter("ignore")
            found = (mapclassify.NaturalBreaks if scheme == "natural_breaks" else mapclassify.Quantiles)(known, k=k)
        uppers = sorted({float(b) for b in found.bins})
    uppers[-1] = float(distinct[-1])
    index = []
    for v in values:
        if v is None or math.isnan(v):
            index.append(None)
        else:
            index.append(int(np.searchsorted(uppers, v, side="left")))
    classes = []
    for i, upper in enumerate(uppers):
        members = known[(known <= upper) & ((known > uppers[i - 1]) if i else True)]
        lower = float(members.min()) if len(members) else upper
        classes.append({"lower": lower, "upper": upper, "count": int(len(members))})
    return classes, index
