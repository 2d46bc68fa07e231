"""Command-line handlers of patrols: ``purge-tracks`` (run it daily; see the README's "Patrols")."""

from __future__ import annotations

from accounts.cli import cli_actor

__all__ = ["register"]


def _purge_tracks(args, registry) -> None:
    from patrols.service import PatrolDesk
    from patrols.tracks import TrackRules

    rules = TrackRules.from_settings(args.settings)
    if args.days is not None:
        rules = TrackRules(**{**rules.__dict__, "retention_days": args.days})
    removed = PatrolDesk(registry, rules).purge(cli_actor())
    print(
        f"已删除 {removed} 个超过 {rules.retention_days} 天的轨迹点 "
        f"removed {removed} positions older than {rules.retention_days} days"
    )


def register(sub, registry_of) -> None:
    """Add the patrol commands to ``sub``; ``registry_of(args)`` opens the registry."""
    s = sub.add_parser(
        "purge-tracks", help="delete patrol positions older than TRACK_RETENTION_DAYS (tracks are personal data)"
    )
    s.add_argument("--days", type=int, default=None, help="keep this many days instead of TRACK_RETENTION_DAYS")
    s.set_defaults(func=lambda args: _purge_tracks(args, registry_of(args)))
