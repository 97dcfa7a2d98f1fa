"""``nearpath`` command: one entry point, several roles (one container image runs them all)."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

ROLES = {
    "operator": ("nearpath.operator.main", "the kopf operator (placement, ALUA ownership, failover)"),
    "csi": ("nearpath.csi.main", "the CSI driver (controller and/or node services)"),
    "target": ("nearpath.target.main", "the node-local LIO target agent"),
    "preflight": ("nearpath.preflight.main", "check this host for what the data path needs (modules, daemons, config)"),
}


def _crds(args: argparse.Namespace) -> int:
    from nearpath.core import crd  # noqa: PLC0415  (keeps `nearpath --help` fast)

    if args.check:
        stale = crd.diff(Path(args.check))
        if stale:
            print(f"crds/ is stale, run `make crds`: {', '.join(stale)}", file=sys.stderr)
            return 1
        print("crds/ matches the models")
        return 0
    if args.output:
        for path in crd.write(Path(args.output)):
            print(f"wrote {path}")
        return 0
    for text in crd.render().values():
        sys.stdout.write(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nearpath", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    crds = sub.add_parser("crds", help="print, write or check the generated CRDs")
    group = crds.add_mutually_exclusive_group()
    group.add_argument("--output", metavar="DIR", help="write the CRDs into DIR")
    group.add_argument("--check", metavar="DIR", help="exit 1 if DIR differs from the generator")
    for role, (_module, help_text) in ROLES.items():
        sub.add_parser(role, help=help_text, add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command == "crds":
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        return _crds(args)
    module = importlib.import_module(ROLES[args.command][0])
    return int(module.main(rest))


if __name__ == "__main__":
    raise SystemExit(main())
