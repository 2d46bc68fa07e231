"""Command-line commands for users and tokens: ``python server.py users …`` and ``python server.py tokens …``."""

from __future__ import annotations

import getpass
import os
import sys

from accounts import tokens, users
from accounts.roles import ROLE_NAMES_ZH, ROLES
from core.audit import Actor

__all__ = ["register", "cli_actor", "print_logins"]


def cli_actor() -> Actor:
    """The audit author of command-line changes: the operating-system user."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover - no user database entry
        who = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return Actor(None, f"cli:{who}", "cli")


def print_logins(logins: list[dict], url: str = "http://127.0.0.1:5000/login") -> None:
    """Print how to sign in with newly created users (passwords and tokens are shown only now)."""
    if not logins:
        return
    print(f"示例用户 demo users (请妥善保存 shown once, keep them safe) — 登录 sign in at {url}")
    for login in logins:
        secret = login.get("password") or login.get("token")
        kind = "密码 password" if "password" in login else "令牌 token (Authorization: Bearer …)"
        areas = ",".join(login["areas"]) or "全部 all"
        print(f"  {login['name']:<8} {ROLE_NAMES_ZH[login['role']]:<6} 区域 areas {areas:<18} {kind}: {secret}")


def _password(args) -> str | None:
    if args.role == "api_client":
        return None
    if args.password:
        return args.password
    if not sys.stdin.isatty():
        raise SystemExit("请用 --password 给出密码 give --password (no terminal to ask on)")
    first = getpass.getpass("密码 password: ")
    if first != getpass.getpass("再输入一次 again: "):
        raise SystemExit("两次密码不一致 the passwords differ")
    return first


def _users_create(args, registry) -> None:
    user = users.create_user(
        registry,
        args.name,
        args.role,
        args.area or (),
        password=_password(args),
        display_name=args.display_name,
        phone=args.phone,
        actor=cli_actor(),
    )
    print(f"已创建用户 created user {user.id} {user.name} ({user.role}) areas {','.join(user.areas) or 'all'}")
    if user.role == "api_client":
        print("  接口客户端用令牌访问 API clients use tokens: python server.py tokens create " + user.name)


def _users_list(args, registry) -> None:
    for u in users.list_users(registry):
        state = "" if u.active else " (停用 disabled)"
        print(f"{u.id:>4} {u.name:<16} {u.role:<12} {','.join(u.areas) or 'all':<30} {u.display_name}{state}")


def _users_update(args, registry) -> None:
    user = users.find_user(registry, args.name)
    if user is None:
        raise SystemExit(f"用户不存在 no user named {args.name!r}")
    changes = {}
    if args.role:
        changes["role"] = args.role
    if args.area:
        changes["areas"] = args.area
    if args.disable or args.enable:
        changes["active"] = bool(args.enable)
    if args.password:
        changes["password"] = args.password
    user = users.update_user(registry, user.id, actor=cli_actor(), **changes)
    print(f"已更新用户 updated user {user.name}: role {user.role}, areas {','.join(user.areas)}, active {user.active}")


def _tokens_create(args, registry) -> None:
    user = users.find_user(registry, args.user)
    if user is None:
        raise SystemExit(f"用户不存在 no user named {args.user!r}")
    secret, token = tokens.create_token(registry, user.id, args.name, args.days, actor=cli_actor())
    print(f"令牌 token {token['id']} for {user.name}, expires {token['expires_at']}")
    print(f"  {secret}")
    print("  只显示这一次 shown only now: use it as  Authorization: Bearer <token>")


def _tokens_list(args, registry) -> None:
    user_id = None
    if args.user:
        user = users.find_user(registry, args.user)
        if user is None:
            raise SystemExit(f"用户不存在 no user named {args.user!r}")
        user_id = user.id
    for tok in tokens.list_tokens(registry, user_id):
        state = "active" if tok["active"] else ("revoked" if tok["revoked_at"] else "expired")
        print(
            f"{tok['id']:>4} user {tok['user_id']:<4} {tok['prefix']}… {state:<8} "
            f"expires {tok['expires_at']} {tok['name']}"
        )


def _tokens_revoke(args, registry) -> None:
    tok = tokens.revoke_token(registry, args.token_id, actor=cli_actor())
    print(f"已撤销令牌 revoked token {tok['id']} at {tok['revoked_at']}")


def register(sub, registry_of) -> None:
    """Add the ``users`` and ``tokens`` commands; ``registry_of(args)`` opens the registry."""

    def run(handler):
        return lambda args: handler(args, registry_of(args))

    u = sub.add_parser("users", help="create, list and change users").add_subparsers(
        dest="users_command", required=True
    )
    s = u.add_parser("create", help="create a user bound to areas")
    s.add_argument("name")
    s.add_argument("--role", required=True, choices=ROLES)
    s.add_argument("--area", action="append", help="code of an area the user answers for (repeatable)")
    s.add_argument("--password", default=None, help="password (asked on the terminal when omitted)")
    s.add_argument("--display-name", default="")
    s.add_argument("--phone", default="")
    s.set_defaults(func=run(_users_create))
    u.add_parser("list", help="list users").set_defaults(func=run(_users_list))
    s = u.add_parser("update", help="change a user's role, areas, password or active flag")
    s.add_argument("name")
    s.add_argument("--role", choices=ROLES)
    s.add_argument("--area", action="append")
    s.add_argument("--password", default=None)
    s.add_argument("--disable", action="store_true")
    s.add_argument("--enable", action="store_true")
    s.set_defaults(func=run(_users_update))

    k = sub.add_parser("tokens", help="create, list and revoke API tokens").add_subparsers(
        dest="tokens_command", required=True
    )
    s = k.add_parser("create", help="create a token for a user (shown once)")
    s.add_argument("user")
    s.add_argument("--name", default="")
    s.add_argument("--days", type=int, default=90)
    s.set_defaults(func=run(_tokens_create))
    s = k.add_parser("list", help="list tokens (never their secrets)")
    s.add_argument("--user", default=None)
    s.set_defaults(func=run(_tokens_list))
    s = k.add_parser("revoke", help="revoke a token at once")
    s.add_argument("token_id", type=int)
    s.set_defaults(func=run(_tokens_revoke))
