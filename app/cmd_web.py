"""`posturewatch web`: serve the web app, or manage its accounts.

Serving reads the config's ``[web]`` section (address, base path, secret, accounts file, TLS),
``[mqtt]`` (the broker of the live view and the snooze command) and the wearers' stores; the
options below override the config. Accounts::

    posturewatch web --add-user alice --role wearer
    posturewatch web --add-user dr-lee --role clinician --wearers alice,bob
    posturewatch web --list-users
    posturewatch web --remove-user bob

``--add-user`` asks for the password twice (or reads one line with ``--password-stdin``); an
existing account is replaced (new password, role and wearers).
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import sys
from pathlib import Path

HELP = "the web app for the wearer's phone and the clinician's screen"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=None,
                        help="TOML config: [web], [mqtt] for live data and snooze, [store], alerts.timezone")
    parser.add_argument("--host", default=None, help="address to listen on (default [web] host, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port to listen on (default [web] port, 8080)")
    parser.add_argument("--root-path", default=None, metavar="PATH",
                        help="base path when a reverse proxy serves the app below a path, e.g. /posture "
                             "(default [web] base_path)")
    parser.add_argument("--certfile", default=None, help="TLS certificate (PEM) to serve HTTPS directly")
    parser.add_argument("--keyfile", default=None, help="TLS private key (PEM) belonging to --certfile")
    parser.add_argument("--secure-cookies", action="store_true",
                        help="mark the session cookie Secure (behind an HTTPS reverse proxy)")
    parser.add_argument("--accounts", default=None, metavar="FILE",
                        help="accounts file (default [web] accounts, else "
                             "~/.local/share/posturewatch/web-accounts.db)")
    parser.add_argument("--data-root", type=Path, default=None, metavar="DIR",
                        help="folder holding one <wearer>/store.db per wearer (default: the data root)")
    users = parser.add_argument_group("accounts")
    users.add_argument("--add-user", metavar="NAME",
                       help="create or replace an account (a wearer's name is their user name)")
    users.add_argument("--role", choices=("wearer", "clinician"), default="wearer",
                       help="the new account's role (default wearer)")
    users.add_argument("--wearers", default="", metavar="A,B",
                       help="comma-separated wearers a clinician account may see")
    users.add_argument("--password-stdin", action="store_true",
                       help="read the new password from one line of standard input instead of asking")
    users.add_argument("--remove-user", metavar="NAME", help="delete an account")
    users.add_argument("--list-users", action="store_true", help="list the accounts and exit")


def _settings(args: argparse.Namespace, web):
    changes = {key: value for key, value in (
        ("host", args.host), ("port", args.port), ("base_path", args.root_path),
        ("certfile", args.certfile), ("keyfile", args.keyfile), ("accounts", args.accounts),
    ) if value is not None}
    if args.secure_cookies:
        changes["secure_cookies"] = True
    if "base_path" in changes:
        changes["base_path"] = changes["base_path"].rstrip("/")
    return dataclasses.replace(web, **changes)


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise ValueError("no terminal to ask for the password: use --password-stdin")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def _manage(args: argparse.Namespace, path: Path) -> int:
    from posturewatch.web.accounts import Accounts

    accounts = Accounts(path)
    try:
        if args.list_users:
            for account in accounts.all():
                seen = (f" sees {', '.join(account.wearers) or 'nobody yet'}"
                        if account.role == "clinician" else "")
                print(f"{account.name}\t{account.role}{seen}")
            return 0
        if args.remove_user:
            if not accounts.remove(args.remove_user):
                print(f"posturewatch web: no account {args.remove_user!r} in {path}", file=sys.stderr)
                return 1
            print(f"removed {args.remove_user}")
            return 0
        wearers = [w.strip() for w in args.wearers.split(",") if w.strip()]
        new = accounts.put(args.add_user, args.role, _password(args), wearers)
        print(f"{'added' if new else 'replaced'} {args.role} {args.add_user} in {path}")
        return 0
    finally:
        accounts.close()


def run(args: argparse.Namespace) -> int:
    from posturewatch.runtime import config as configuration
    from posturewatch.web.accounts import AccountError
    from posturewatch.web.server import WebServer, accounts_path, build, run_forever

    try:
        cfg = configuration.load(args.config)
        settings = _settings(args, cfg.web)
    except (configuration.ConfigError, ValueError) as exc:
        print(f"posturewatch web: {exc}", file=sys.stderr)
        return 2
    if args.add_user or args.remove_user or args.list_users:
        try:
            return _manage(args, accounts_path(settings))
        except (AccountError, ValueError, OSError) as exc:
            print(f"posturewatch web: {exc}", file=sys.stderr)
            return 2
    try:
        server = WebServer(build(cfg, settings, stores_root=args.data_root), settings)
    except (ValueError, OSError) as exc:
        print(f"posturewatch web: {exc}", file=sys.stderr)
        return 2
    if not server.app.accounts.all():
        print("note: no accounts yet; add one with `posturewatch web --add-user NAME --role wearer`",
              file=sys.stderr)
    live = "on" if cfg.mqtt else "off, no [mqtt] in config"
    print(f"posturewatch web on {server.url}/ (live data: {live})")
    try:
        run_forever(server)
    finally:
        server.app.accounts.close()
    return 0
