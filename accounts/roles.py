"""Roles and the permissions each grants. Area scope is applied separately (see :mod:`boundaries.scope`)."""

from __future__ import annotations

from core.errors import InvalidInputError

__all__ = ["ROLES", "ROLE_NAMES_ZH", "PERMISSIONS", "ROLE_PERMISSIONS", "has_permission", "check_role"]

ROLES = ("admin", "planner", "staff", "grid_worker", "api_client")

ROLE_NAMES_ZH = {
    "admin": "管理员",
    "planner": "规划员",
    "staff": "工作人员",
    "grid_worker": "网格员",
    "api_client": "接口客户端",
}

#: Every permission a route can require, with what it allows.
PERMISSIONS = {
    "areas:read": "查看区域与版本 see areas and generations",
    "areas:write": "在草稿中绘制区域并发布 draw areas in the draft and publish",
    "assets:read": "查看建筑与服务点 see buildings and service points",
    "buildings:write": "修改建筑属性 edit buildings",
    "service_points:write": "增删改服务点 add, change and remove service points",
    "locate": "定位 locate points in areas",
    "maps:view": "查看地图页面 view map pages",
    "workers:phones": "查看网格员完整电话 see workers' full phone numbers",
    "issues:create": "上报事件 report issues",
    "issues:read": "查看事件 see issues",
    "issues:status": "查询自己上报事件的状态 read the status of issues it reported",
    "issues:handle": "处置事件 handle issues",
    "issues:dispatch": "受理、派遣事件 accept and dispatch issues",
    "stats:read": "查看统计 see statistics",
    "issues:export": "导出事件明细 export issues with their text, places and reporters",
    "patrols:record": "记录巡查 record patrols",
    "patrols:read": "查看他人的巡查轨迹 see other workers' patrol tracks (personal data)",
    "users:manage": "管理用户与令牌 manage users and tokens",
    "audit:read": "查看审计日志 read the audit log",
}

_READ = {"areas:read", "assets:read", "locate", "maps:view"}

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(PERMISSIONS),
    "planner": frozenset(_READ | {"areas:write", "buildings:write", "service_points:write", "stats:read"}),
    "staff": frozenset(
        _READ
        | {"workers:phones", "issues:create", "issues:read", "issues:handle", "issues:dispatch", "stats:read"}
        | {"issues:export", "patrols:read"}
    ),
    "grid_worker": frozenset(_READ | {"issues:create", "issues:read", "issues:handle", "patrols:record"}),
    "api_client": frozenset({"issues:create", "issues:status"}),
}


def check_role(role: str) -> str:
    """Return ``role`` if known, else raise :class:`InvalidInputError`."""
    if role not in ROLES:
        raise InvalidInputError(f"未知角色 unknown role {role!r}; expected one of {', '.join(ROLES)}")
    return role


def has_permission(role: str, permission: str) -> bool:
    """Whether ``role`` grants ``permission`` (unknown permissions are a programming error)."""
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")
    return permission in ROLE_PERMISSIONS.get(role, frozenset())
