"""`posturewatch users add|remove|list`: broker accounts for wearers, sink workers and clinicians.

The accounts live in one directory (``--dir``): ``accounts.json`` (the registry), ``passwd``
(Mosquitto password file, hashed by ``mosquitto_passwd``) and ``acl`` (Mosquitto ACL file);
point the broker's ``password_file`` and ``acl_file`` at the last two. After a change the broker
must re-read them: ``--pid-file`` sends it SIGHUP, or run ``systemctl reload mosquitto``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
from pathlib import Path

HELP = "broker accounts and ACLs for wearers, sink workers and clinicians"
DEFAULT_DIR = "/etc/mosquitto/posturewatch"


def _common(parser: argparse.ArgumentParser, top: bool) -> None:
    # accepted before and after the action; after it only overrides what was given
    def default(value):
        return value if top else argparse.SUPPRESS

    parser.add_argument(
        "--dir", default=default(os.environ.get("POSTUREWATCH_USERS_DIR", DEFAULT_DIR)),
        help="where accounts.json, passwd and acl live (default: $POSTUREWATCH_USERS_DIR or "
             f"{DEFAULT_DIR})",
    )
    parser.add_argument("--prefix", default=default(None),
                        help="topic prefix, fixed when the registry is created (default: posturewatch)")
    parser.add_argument("--pid-file", default=default(None),
                        help="after a change, send SIGHUP to the broker whose pid is in this file")
    parser.add_argument(
        "--dynsec", metavar="HOST:PORT", default=default(None),
        help="put the accounts into the dynamic-security plugin of this running broker instead of "
             "the passwd/acl files (the registry stays in --dir)",
    )
    parser.add_argument("--admin-user", default=default("admin"),
                        help="the plugin's admin account (default: admin)")
    parser.add_argument(
        "--admin-password", default=default(os.environ.get("POSTUREWATCH_DYNSEC_PASSWORD")),
        help="its password (default: $POSTUREWATCH_DYNSEC_PASSWORD)",
    )
    parser.add_argument("--ca-file", default=default(None),
                        help="with --dynsec: connect with TLS, verifying the broker with this CA")


def configure(parser: argparse.ArgumentParser) -> None:
    _common(parser, top=True)
    common = argparse.ArgumentParser(add_help=False)
    _common(common, top=False)
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True,
                                help="add, remove or list accounts")
    add = sub.add_parser("add", parents=[common], help="create an account (prints a generated password once)",
                         description="Create an account and its ACL entries.")
    add.add_argument("name", help="login name; for a wearer also their topic level")
    add.add_argument("--role", choices=("wearer", "sink", "clinician"), required=True,
                     help="wearer: own topics; sink: every wearer's data via a shared group; "
                          "clinician: read the assigned wearers")
    add.add_argument("--wearers", default="", help="clinician: comma-separated wearers they may read")
    add.add_argument("--group", help="sink: shared-subscription group (default: posturewatch-sink)")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from stdin instead of generating one")
    add.add_argument("--update", action="store_true",
                     help="change an existing account's wearers or group; keeps its password "
                          "unless --password-stdin is given")
    remove = sub.add_parser("remove", parents=[common], help="delete an account and its ACL entries")
    remove.add_argument("name")
    sub.add_parser("list", parents=[common], help="the accounts, their roles and what they may read")


def run(args: argparse.Namespace) -> int:
    from posturewatch.accounts.mosquitto_files import MosquittoFiles
    from posturewatch.accounts.registry import AccountError

    files = MosquittoFiles(args.dir)
    try:
        if args.action == "list":
            return _list(files, args)
        control = _dynsec(args)
        if control is not None:
            with control:  # the plugin applies changes at once: nothing to reload
                (_add if args.action == "add" else _remove)(files, args, control)
            return 0
        changed = _add(files, args) if args.action == "add" else _remove(files, args)
    except AccountError as exc:
        print(f"posturewatch users: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"posturewatch users: {exc.filename or args.dir}: {exc.strerror}", file=sys.stderr)
        return 2
    if changed:
        _reload(args.pid_file)
    return 0


def _dynsec(args):
    if not args.dynsec:
        return None
    from posturewatch.accounts.dynsec import DynsecControl, DynsecTarget
    from posturewatch.accounts.registry import AccountError

    host, _, port = args.dynsec.rpartition(":")
    if not host or not port.isdigit():
        raise AccountError(f"--dynsec wants HOST:PORT, got {args.dynsec!r}")
    if not args.admin_password:
        raise AccountError(
            "--dynsec needs the admin password (--admin-password or $POSTUREWATCH_DYNSEC_PASSWORD)"
        )
    return DynsecControl(DynsecTarget(host, int(port), args.admin_user, args.admin_password, args.ca_file))


def _add(files, args, control=None) -> bool:
    from posturewatch.accounts.registry import Account

    wearers = tuple(w.strip() for w in args.wearers.split(",") if w.strip())
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
    with files.editing(args.prefix, broker_files=control is None) as registry:
        existed = args.name in registry.accounts
        account = registry.add(Account(args.name, args.role, args.group, wearers), update=args.update)
        if password is None and not existed:
            password = secrets.token_urlsafe(18)
            generated = True
        else:
            generated = False
        if control is not None:
            control.deny_by_default()
            control.apply(account, registry.prefix, password)
        elif password is not None:
            files.set_password(account.name, password)
    print(f"{'updated' if existed else 'added'} {account.role} {account.name}{_details(account)}",
          file=sys.stderr)
    if generated:
        print(f"{account.name} {password}")  # the only time it is shown: stdout, for a script to keep
    return True


def _remove(files, args, control=None) -> bool:
    with files.editing(args.prefix, broker_files=control is None) as registry:
        account, touched = registry.remove(args.name)
        if control is None:
            files.delete_password(account.name)
        else:
            control.remove(account.name)
            for name in touched:
                control.apply(registry.accounts[name], registry.prefix, None)
    print(f"removed {account.role} {account.name}", file=sys.stderr)
    if touched:
        print(f"no longer assigned to clinician(s): {', '.join(touched)}", file=sys.stderr)
    return True


def _list(files, args) -> int:
    registry = files.read(args.prefix)
    if not registry.accounts:
        print(f"no accounts in {files.registry_path}", file=sys.stderr)
        return 0
    width = max(len(name) for name in registry.accounts)
    for account in sorted(registry.accounts.values(), key=lambda a: (a.role, a.name)):
        print(f"{account.name:<{width}}  {account.role:<9}{_details(account)}".rstrip())
    return 0


def _details(account) -> str:
    if account.role == "sink":
        return f"  group {account.group}"
    if account.role == "clinician":
        return f"  reads {', '.join(account.wearers) or '(nobody yet)'}"
    return ""


def _reload(pid_file: str | None) -> None:
    if not pid_file:
        print("reload the broker so it reads the files again (systemctl reload mosquitto, or "
              "kill -HUP <pid>)", file=sys.stderr)
        return
    try:
        pid = int(Path(pid_file).read_text().split()[0])
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError, IndexError) as exc:
        print(f"posturewatch users: could not signal the broker from {pid_file}: {exc}", file=sys.stderr)
