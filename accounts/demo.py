"""Demo users, one per role, bound to areas of the demo street, with random passwords."""

from __future__ import annotations

import secrets

from accounts.tokens import create_token
from accounts.users import create_user, find_user
from boundaries.registry import Registry
from core.audit import SYSTEM, Actor

__all__ = ["DEMO_USERS", "create_demo_users"]

#: (login name, role, display name, bound area codes) of the demo street's users.
DEMO_USERS = (
    ("admin", "admin", "系统管理员", ()),
    ("planner", "planner", "桂花社区规划员", ("510104001001",)),
    ("staff", "staff", "桂花社区工作人员", ("510104001001",)),
    ("worker", "grid_worker", "桂花社区第一网格网格员", ("510104001001001",)),
    ("wechat", "api_client", "微信小程序上报渠道", ("510104001",)),
)


def create_demo_users(registry: Registry, password=None, actor: Actor = SYSTEM) -> list[dict]:
    """Create the demo users that do not exist yet; returns their logins (password or token, shown once).

    Parameters
    ----------
    password : callable, optional
        ``password(name) -> str``; default: a random password per user.
    """
    made = []
    for name, role, display, areas in DEMO_USERS:
        if find_user(registry, name) is not None:
            continue
        if role == "api_client":
            user = create_user(registry, name, role, areas, display_name=display, actor=actor)
            secret, _ = create_token(registry, user.id, "示例令牌 demo token", 365, actor=actor)
            made.append({"name": name, "role": role, "areas": list(areas), "token": secret})
        else:
            pw = password(name) if password else secrets.token_urlsafe(12)
            create_user(registry, name, role, areas, password=pw, display_name=display, actor=actor)
            made.append({"name": name, "role": role, "areas": list(areas), "password": pw})
    return made
