"""Waivers of planning rules and the rule check on publish (see :mod:`boundaries.rules` for the rules).

A rule waived for an area (``rule_waivers``, audited) marks that area's failures of the rule ``waived``.
Publishing through the API is refused while unwaived failures remain: the rules run outside the write
transaction, and the publish transaction checks that the areas, buildings and waivers it publishes are those the
rules saw (checking again when they changed).
"""

from __future__ import annotations

from datetime import datetime, timezone

from boundaries.rules import RULES, Failure, RuleSettings, RulesFailedError, _check, _iso
from core.audit import record
from core.errors import ChangeSetConflictError, ConflictError, InvalidInputError, NotFoundError

__all__ = ["add_waiver", "waive_in", "remove_waiver", "check_publish", "publish"]


def _require_anywhere(view, code: str) -> None:
    """The area must be in the caller's areas in the draft (when there is one) or the current generation."""
    from boundaries.drafts import draft_of

    draft = draft_of(view)
    try:
        view.require(code, draft if draft is not None else None)
    except NotFoundError:
        if draft is None:
            raise
        view.require(code, None)


def add_waiver(view, code: str, rule: str, reason: str) -> dict:
    """Waive ``rule`` for the area ``code`` with a reason (audited); :class:`ConflictError` if already waived."""
    if rule not in RULES:
        raise InvalidInputError(f"未知规则 unknown rule {rule!r}; rules: {', '.join(RULES)}")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInputError("请填写豁免理由 give the reason for the waiver")
    from boundaries.drafts import draft_of

    _require_anywhere(view, code)
    with view.registry.store.transaction() as conn:
        row = waive_in(conn, view, code, rule, reason, draft_of(view))
        if row is None:
            raise ConflictError(f"区域 {code} 的规则 {rule} 已豁免 rule {rule!r} is already waived for area {code!r}")
    return row | {"created_at": _iso(row["created_at"])}


def waive_in(conn, view, code: str, rule: str, reason: str, change_set: int | None = None) -> dict | None:
    """Record a waiver in the caller's transaction ``conn`` (audited); ``None`` when the area already has one.

    For domain code that has checked the caller's scope itself (e.g. :func:`boundaries.suggest.suggest_micro_grids`
    waiving the households rule of a building above the ceiling, drawn as its own micro-grid). A waiver made in
    an open ``change_set`` belongs to it: in force only there until it is published, dropped if it is discarded.
    """
    row = {
        "area_code": code,
        "rule": rule,
        "reason": reason[:500],
        "user_id": view.actor.user_id,
        "user_name": view.actor.name[:64],
        "created_at": datetime.now(timezone.utc),
        "change_set": None if change_set is None else int(change_set),
    }
    waiver_id = view.registry.store.insert_waiver(conn, row)
    if waiver_id is None:
        return None
    row["id"] = waiver_id
    record(conn, view.actor, "waive", "rule_waiver", waiver_id, None, row)
    return row


def remove_waiver(view, code: str, waiver_id: int) -> dict:
    """Withdraw a waiver of the area ``code`` (audited); :class:`NotFoundError` when it has no such waiver."""
    _require_anywhere(view, code)
    store = view.registry.store
    with store.transaction() as conn:
        found = [w for w in store.waivers(codes=[code], conn=conn) if w["id"] == waiver_id]
        if not found:
            raise NotFoundError(f"区域 {code} 没有豁免 {waiver_id} area {code!r} has no waiver {waiver_id}")
        store.delete_waiver(conn, waiver_id)
        record(conn, view.actor, "unwaive", "rule_waiver", waiver_id, found[0], None)
    return found[0] | {"created_at": _iso(found[0]["created_at"])}


def _draft_parents(store, conn, draft: int) -> list[str]:
    """Areas whose children the draft changed: parents of added and retired rows, and added rows with children."""
    changes = store.draft_changes(conn, draft)
    rows = store.areas(draft, geometry=False, conn=conn)
    present = {r["code"] for r in rows}
    with_children = {r["parent_code"] for r in rows if r["parent_code"]}
    wanted = {r["parent_code"] for r in changes if r["parent_code"]} & present
    wanted |= {r["code"] for r in changes if r["generation_low"] == draft} & with_children
    return sorted(wanted)


def check_publish(view, settings: RuleSettings | None = None, change_set: int | None = None) -> list[Failure]:
    """The unwaived failures publishing the draft would bring, checked where the draft changed something.

    Every area whose children the draft added, redrew or retired (and every added area with children) is
    checked in the draft generation. The scope of the draft's changes is checked first (403 before 409), then
    conflicts with generations published since it began (:class:`ChangeSetConflictError`: rebase first).
    """
    from boundaries import drafts

    store = view.registry.store
    with store.engine.connect() as conn:
        draft = drafts.draft_of(view, conn) if change_set is None else change_set
        if draft is None:
            raise NotFoundError("没有草稿版本 you have no open change set to publish")
        if store.generation(draft, conn)["state"] != "draft":
            raise ConflictError(f"版本 {draft} 不是草稿 generation {draft} is not an open change set")
        drafts.scope_check(view)(conn, draft, None)
        changes = store.draft_changes(conn, draft)
        touched = {r["code"] for r in changes} | {r["parent_code"] for r in changes if r["parent_code"]}
        conflicts = store.change_set_conflicts(conn, draft, touched)
        if conflicts:  # before the rules: a rebase may change what they find (checked again on publish)
            raise ChangeSetConflictError(draft, conflicts)
        parents = _draft_parents(store, conn, draft)
    failures = []
    for code in parents:
        failures += [f for f in _check(view.registry, code, draft, settings or RuleSettings())[1] if not f.waived]
    return failures


def publish(view, settings: RuleSettings | None = None, change_set: int | None = None) -> int:
    """Publish the draft unless unwaived rule failures remain (:class:`RulesFailedError` lists them).

    The rules are checked before the write transaction (they read geometry and buildings); inside it, the
    transaction makes sure nothing they read changed since (the ``areas`` and ``assets`` revisions and the
    waivers), else the check runs again — so what is published is what was checked.
    """
    from boundaries import drafts

    store = view.registry.store
    for _attempt in range(3):
        seen = (store.data_version(), [w["id"] for w in store.waivers()])
        failures = check_publish(view, settings, change_set)
        if failures:
            listed = "; ".join(f.message for f in failures[:10])
            more = f" (+{len(failures) - 10})" if len(failures) > 10 else ""
            raise RulesFailedError(
                f"有 {len(failures)} 处规则未通过，不能发布 publishing refused: {len(failures)} unwaived rule "
                f"failure(s): {listed}{more}",
                failures,
            )
        scope = drafts.scope_check(view)
        stale = []

        def check(conn, draft, changes, scope=scope, seen=seen, stale=stale):
            scope(conn, draft, changes)
            now = (
                (store.revision("assets", conn), store.revision("areas", conn)),
                [w["id"] for w in store.waivers(conn=conn)],
            )
            if now != seen:
                stale.append(True)
                raise ConflictError("草稿在检查时已改变 the draft changed while its rules were checked; try again")

        try:
            return view.registry.publish(view.actor, check, change_set)
        except ConflictError:
            if not stale:
                raise
    raise ConflictError("草稿不断变化，请稍后再发布 the draft keeps changing: publish again in a moment")
