"""Generations and change sets in the store: which area rows each generation sees, and how a change set lands.

A published generation ``g`` sees the rows valid from a generation at or below it and not retired at or below
it, leaving out the rows of change sets still open (their ids may be lower than ``g``). A change set (a draft
generation with an owner, branched from ``base_generation``) sees its base's rows minus those it retired
(``change_set_retired``) plus the rows it added (``generation_low`` = its id). Publishing renumbers the change set
above every generation when a newer one exists, so published generations are ordered as they were published,
and a published generation's rows never change afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import datetime, timezone

import sqlalchemy as sa

from boundaries.storage.geometry import decode_rows, encode_rows
from core.errors import ConflictError, NotFoundError
from core.storage import tables as t

__all__ = ["ChangeSetStore", "SYSTEM_OWNER"]

#: The owner of the command line's (and the system's) change set.
SYSTEM_OWNER = "system"
_BATCH = 5000


def _open_drafts():
    g = t.generations.c
    return sa.select(g.id).where(g.state == "draft").scalar_subquery()


def _published_view(generation: int):
    a = t.areas.c
    return sa.and_(
        a.generation_low <= generation,
        sa.or_(a.generation_high.is_(None), a.generation_high > generation),
        a.generation_low.not_in(_open_drafts()),
    )


def _draft_view(draft: int, base: int | None):
    a, r = t.areas.c, t.change_set_retired.c
    own = a.generation_low == draft
    if base is None:
        return own
    retired = sa.select(r.area_id).where(r.generation_id == draft).scalar_subquery()
    return sa.or_(own, sa.and_(_published_view(base), a.id.not_in(retired)))


class ChangeSetStore:
    """Generation and change-set methods of :class:`~boundaries.storage.store.Store` (a mixin).

    Methods taking ``conn`` run inside the caller's write transaction.
    """

    engine: sa.Engine
    _published: set[int]

    def _scalar(self, statement, conn: sa.Connection | None):
        if conn is not None:
            return conn.execute(statement).scalar()
        with self.engine.connect() as c:
            return c.execute(statement).scalar()

    # -- what a generation sees --------------------------------------------------------------------
    def valid_in(self, generation: int, conn: sa.Connection | None = None):
        """The condition selecting the area rows valid in ``generation`` (published or a change set)."""
        generation = int(generation)
        if generation not in self._published:
            g = t.generations.c
            statement = sa.select(g.state, g.base_generation).where(g.id == generation)
            if conn is not None:
                row = conn.execute(statement).first()
            else:
                with self.engine.connect() as c:
                    row = c.execute(statement).first()
            if row is not None and row.state == "draft":
                return _draft_view(generation, row.base_generation)
            if row is not None and row.state == "published":
                self._published.add(generation)
        return _published_view(generation)

    # -- generations -------------------------------------------------------------------------------
    def create_generation(
        self, conn: sa.Connection, note: str = "", owner: str = SYSTEM_OWNER, author: str = ""
    ) -> int:
        """Open a change set for ``owner``, based on the current generation; one open change set per owner."""
        g = t.generations.c
        if conn.execute(sa.select(g.id).where(g.state == "draft", g.owner == owner)).first():
            raise ConflictError("已有草稿版本 you already have an open change set: publish or discard it first")
        result = conn.execute(
            t.generations.insert().values(
                state="draft",
                note=note,
                created_at=datetime.now(timezone.utc),
                owner=owner,
                author=(author or owner)[:64],
                base_generation=self.current_generation_id(conn),
            )
        )
        return int(result.inserted_primary_key[0])

    def generations(self) -> list[dict]:
        """Every generation and open change set, oldest first."""
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(t.generations).order_by(t.generations.c.id)).mappings()]

    def generation(self, generation_id: int, conn: sa.Connection | None = None) -> dict:
        """One generation, or :class:`NotFoundError` (naming the generation a published change set became)."""
        g = t.generations.c
        with self.engine.connect() if conn is None else contextlib.nullcontext(conn) as c:
            row = c.execute(sa.select(t.generations).where(g.id == generation_id)).mappings().first()
            later = None if row else c.execute(sa.select(g.id).where(g.change_set == generation_id)).scalar()
        if row is None:
            if later is not None:
                raise NotFoundError(
                    f"变更集 {generation_id} 已发布为版本 {later} change set {generation_id} was published as "
                    f"generation {later}"
                )
            raise NotFoundError(f"版本不存在 generation {generation_id} does not exist")
        if row["state"] == "published":
            self._published.add(generation_id)
        return dict(row)

    def is_published(self, generation_id: int) -> bool:
        """Whether a generation is published (remembered once seen: publishing is final)."""
        return generation_id in self._published or self.generation(generation_id)["state"] == "published"

    def current_generation_id(self, conn: sa.Connection | None = None) -> int | None:
        """The newest published generation, or ``None`` (read in ``conn``'s transaction when given)."""
        g = t.generations.c
        return self._scalar(sa.select(sa.func.max(g.id)).where(g.state == "published"), conn)

    def draft_generation_id(self, conn: sa.Connection | None = None, owner: str = SYSTEM_OWNER) -> int | None:
        """The open change set of ``owner``, or ``None``.

        Inside a write transaction (``conn``) its row is locked (``FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE``
        already excludes every other writer), so it cannot be published or discarded before the transaction
        ends: a write that reads the change set here writes into one that is still open.
        """
        g = t.generations.c
        statement = sa.select(g.id).where(g.state == "draft", g.owner == owner)
        if conn is not None:
            return conn.execute(statement.with_for_update()).scalar()
        return self._scalar(statement, None)

    def require_draft(self, conn: sa.Connection, generations: Iterable[int | None]) -> None:
        """Refuse (:class:`ConflictError`) to write area rows valid from or retired at a non-draft generation.

        Published generations never change, and a discarded change set keeps nothing: this guard makes every
        area write of the store check it, inside the writer's transaction.
        """
        wanted = {int(g) for g in generations if g is not None}
        if not wanted:
            return
        g = t.generations.c
        drafts = set(conn.execute(sa.select(g.id).where(g.id.in_(sorted(wanted)), g.state == "draft")).scalars())
        closed = sorted(wanted - drafts)
        if closed:
            raise ConflictError(
                f"版本 {closed[0]} 不是草稿 generation {closed[0]} is not an open change set: "
                "published generations never change and discarded ones keep nothing; try again"
            )

    def lock_change_set(self, conn: sa.Connection, generation_id: int) -> dict:
        """The open change set's row, locked for the caller's transaction (``FOR UPDATE``).

        A second writer publishing, discarding or rebasing the same change set waits here, then finds it no longer
        open (:class:`ConflictError`) instead of publishing it twice.
        """
        g = t.generations.c
        row = conn.execute(sa.select(t.generations).where(g.id == generation_id).with_for_update()).mappings().first()
        if row is None or row["state"] != "draft":
            raise ConflictError(
                f"版本 {generation_id} 不是草稿 generation {generation_id} is not an open change set: "
                "published generations never change and discarded ones keep nothing; try again"
            )
        return dict(row)

    def lock_publishing(self, conn: sa.Connection) -> None:
        """Serialise publishing: take the ``areas`` revision row (``FOR UPDATE``) for the caller's transaction.

        Two change sets published at once on a server database would each check for conflicts without seeing the
        other's uncommitted rows; the second now waits for the first to commit, then sees it. (SQLite has one
        writer at a time already.) Every area write's trigger takes the same row, so no write slips in between.
        """
        r = t.revisions.c
        conn.execute(sa.select(r.value).where(r.name == "areas").with_for_update()).first()

    def discard_generation(self, conn: sa.Connection, generation_id: int) -> None:
        """Discard an open change set: delete the rows it added and forget what it retired."""
        self.lock_change_set(conn, generation_id)
        self.undo_draft_areas(conn, generation_id)
        conn.execute(sa.delete(t.rule_waivers).where(t.rule_waivers.c.change_set == generation_id))
        g = t.generations.c
        result = conn.execute(
            t.generations.update().where(g.id == generation_id, g.state == "draft").values(state="discarded")
        )
        if result.rowcount != 1:
            raise ConflictError(f"版本 {generation_id} 不是草稿 generation {generation_id} is not an open change set")

    def set_generation_state(self, conn: sa.Connection, generation_id: int, state: str) -> int:
        """Publish (:meth:`publish_generation`) or discard (:meth:`discard_generation`) an open change set.

        Returns the generation's id afterwards (a published change set may have been renumbered).
        """
        if state == "published":
            return self.publish_generation(conn, generation_id)
        if state == "discarded":
            self.discard_generation(conn, generation_id)
            return generation_id
        raise ValueError(f"unknown generation state {state!r}")

    def open_change_sets(self, conn: sa.Connection | None = None) -> list[dict]:
        """Every open change set (draft generation), oldest first."""
        g = t.generations
        statement = sa.select(g).where(g.c.state == "draft").order_by(g.c.id)
        with self.engine.connect() if conn is None else contextlib.nullcontext(conn) as c:
            return [dict(r) for r in c.execute(statement).mappings()]

    def publish_generation(self, conn: sa.Connection, draft: int) -> int:
        """Publish an open change set as the newest generation; returns the published generation's id.

        The change set keeps its id when no generation was created after it (discarded ones aside); otherwise
        it is published under a new id above every other (``change_set`` records the old one), so the ids of
        published generations follow the order of publishing. The rows it retired get ``generation_high``.
        """
        row = self.lock_change_set(conn, draft)
        g, a, r = t.generations.c, t.areas.c, t.change_set_retired.c
        now = datetime.now(timezone.utc)
        newest = conn.execute(sa.select(sa.func.max(g.id)).where(g.state != "discarded")).scalar()
        target = draft
        if newest != draft:
            values = {k: row[k] for k in ("note", "created_at", "owner", "author", "base_generation")}
            inserted = conn.execute(
                t.generations.insert().values(**values, state="published", published_at=now, change_set=draft)
            )
            target = int(inserted.inserted_primary_key[0])
            conn.execute(t.areas.update().where(a.generation_low == draft).values(generation_low=target))
        retired = sa.select(r.area_id).where(r.generation_id == draft).scalar_subquery()
        conn.execute(t.areas.update().where(a.id.in_(retired)).values(generation_high=target))
        conn.execute(sa.delete(t.change_set_retired).where(r.generation_id == draft))
        w = t.rule_waivers.c
        conn.execute(t.rule_waivers.update().where(w.change_set == draft).values(change_set=None))  # now in force
        if target == draft:
            conn.execute(t.generations.update().where(g.id == draft).values(state="published", published_at=now))
        else:
            conn.execute(sa.delete(t.generations).where(g.id == draft))
        return target

    def change_set_conflicts(self, conn: sa.Connection, draft: int, codes: Iterable[str]) -> list[dict]:
        """Generations published after the change set's base that changed one of ``codes``.

        One row per (code, generation) with the generation's author, note and former change-set id.
        """
        g, a = t.generations.c, t.areas.c
        base = conn.execute(sa.select(g.base_generation).where(g.id == draft)).scalar()
        codes = sorted(set(codes))
        if base is None or not codes:
            return []
        published = sa.select(g.id).where(g.state == "published", g.id > base).scalar_subquery()
        found: dict[tuple, dict] = {}
        for start in range(0, len(codes), 500):
            chunk = codes[start : start + 500]
            statement = sa.select(a.code, a.generation_low, a.generation_high).where(
                a.code.in_(chunk), sa.or_(a.generation_low.in_(published), a.generation_high.in_(published))
            )
            for code, low, high in conn.execute(statement):
                for generation in (low, high):
                    if generation is not None and generation > base:
                        found.setdefault((code, generation), {"code": code, "generation": generation})
        if not found:
            return []
        ids = sorted({k[1] for k in found})
        meta = {
            m["id"]: m
            for m in conn.execute(
                sa.select(g.id, g.author, g.note, g.change_set, g.published_at).where(g.id.in_(ids))
            ).mappings()
        }
        rows = []
        for (_code, generation), row in sorted(found.items()):
            m = meta.get(generation, {})
            rows.append({**row, "author": m.get("author", ""), "note": m.get("note", ""),
                         "change_set": m.get("change_set") or generation})  # fmt: skip
        return rows

    def rebase_change_set(self, conn: sa.Connection, draft: int, codes: Iterable[str]) -> int | None:
        """Move an open change set onto the current generation; returns the new base.

        For every area code it changed (``codes``) it now replaces the rows valid in the current generation, so
        its own version of those areas wins over what was published in between; everything else it sees comes
        from the current generation.
        """
        self.lock_change_set(conn, draft)
        self.lock_publishing(conn)
        g, r = t.generations.c, t.change_set_retired.c
        current = self.current_generation_id(conn)
        codes = sorted(set(codes))
        conn.execute(sa.delete(t.change_set_retired).where(r.generation_id == draft))
        if current is not None and codes:
            a = t.areas.c
            for start in range(0, len(codes), 500):
                chunk = codes[start : start + 500]
                ids = conn.execute(sa.select(a.id).where(_published_view(current), a.code.in_(chunk))).scalars()
                rows = [{"generation_id": draft, "area_id": int(i)} for i in ids]
                if rows:
                    conn.execute(t.change_set_retired.insert(), rows)
        conn.execute(t.generations.update().where(g.id == draft).values(base_generation=current))
        return current

    # -- a change set's rows -----------------------------------------------------------------------
    def retire_areas(self, conn: sa.Connection, ids: list[int], generation: int) -> None:
        """Retire base rows in the change set ``generation`` (they stay in every published generation)."""
        self.require_draft(conn, [generation])
        r = t.change_set_retired.c
        taken = set(conn.execute(sa.select(r.area_id).where(r.generation_id == generation)).scalars())
        rows = [{"generation_id": generation, "area_id": int(i)} for i in dict.fromkeys(ids) if int(i) not in taken]
        for start in range(0, len(rows), _BATCH):
            conn.execute(t.change_set_retired.insert(), rows[start : start + _BATCH])

    def _retired_ids(self, generation: int):
        r = t.change_set_retired.c
        return sa.select(r.area_id).where(r.generation_id == generation).scalar_subquery()

    def draft_area_ids(self, conn: sa.Connection, generation: int, level: str, parent_code: str | None) -> list[int]:
        """Ids of a level's areas (under a parent, if given) that the change set added or retired."""
        a = t.areas.c
        statement = sa.select(a.id).where(
            a.level == level, sa.or_(a.generation_low == generation, a.id.in_(self._retired_ids(generation)))
        )
        if parent_code is not None:
            statement = statement.where(a.parent_code == parent_code)
        return list(conn.execute(statement).scalars())

    def undo_draft_areas(self, conn: sa.Connection, generation: int, area_ids: list[int] | None = None) -> None:
        """Forget the change set's changes: delete rows it added, revive rows it retired (optionally only some)."""
        self.require_draft(conn, [generation])
        a, r = t.areas.c, t.change_set_retired.c
        added = sa.delete(t.areas).where(a.generation_low == generation)
        revived = sa.delete(t.change_set_retired).where(r.generation_id == generation)
        if area_ids is not None:
            added = added.where(a.id.in_(area_ids))
            revived = revived.where(r.area_id.in_(area_ids))
        conn.execute(revived)
        conn.execute(added)

    def draft_changes(self, conn: sa.Connection, generation: int, geometry: bool = False) -> list[dict]:
        """Area rows the change set added (``generation_low``) or retired (reported with ``generation_high``).

        Without their geometry unless ``geometry`` is true.
        """
        a = t.areas
        columns = [c for c in a.c if geometry or c.name != "geometry"]
        added = [
            dict(row) for row in conn.execute(sa.select(*columns).where(a.c.generation_low == generation)).mappings()
        ]
        retired = sa.select(*columns).where(a.c.id.in_(self._retired_ids(generation)))
        return decode_rows(added + [{**row, "generation_high": generation} for row in conn.execute(retired).mappings()])

    def replace_draft_area(self, conn: sa.Connection, generation: int, old: dict, new: dict | None) -> int | None:
        """Replace (or with ``new=None`` retire) one area in the change set; returns the new row's id."""
        self.require_draft(conn, [generation])
        if old["generation_low"] == generation:  # added by this change set: nothing older to keep
            conn.execute(sa.delete(t.areas).where(t.areas.c.id == old["id"]))
        else:
            conn.execute(t.change_set_retired.insert().values(generation_id=generation, area_id=old["id"]))
        if new is None:
            return None
        values = {**encode_rows([new])[0], "generation_low": generation}
        return int(conn.execute(t.areas.insert().values(**values)).inserted_primary_key[0])
