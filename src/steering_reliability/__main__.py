"""Command line: ``python -m steering_reliability audit <artifact>``."""

from __future__ import annotations

import argparse
import sys

from steering_reliability.provenance import audit, describe


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m steering_reliability")
    commands = parser.add_subparsers(dest="command", required=True)
    audit_parser = commands.add_parser(
        "audit", help="explain an artifact and verify the checksums of the chain behind it"
    )
    audit_parser.add_argument("artifact", help="path of a workflow output, relative to --root")
    audit_parser.add_argument("--root", default=".", help="the workflow's working directory")
    arguments = parser.parse_args(argv)
    for line in describe(arguments.artifact, arguments.root):
        print(line)
    finding = audit(arguments.artifact, arguments.root)
    print("chain:")
    print("\n".join(finding.lines(1)))
    print("verdict: " + ("all checksums match" if finding.ok else "PROBLEMS FOUND"))
    return 0 if finding.ok else 1


if __name__ == "__main__":
    sys.exit(main())
