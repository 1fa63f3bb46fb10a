"""The ``ml-connector`` command: the sandbox servers, the demo tour, credential-key rotation, the audit
ledger's questions, and onboarding a tenant (``doctor``, ``discover``)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import get_args

from ml_connector.audit.cli import add_audit_parser, run_audit
from ml_connector.onboarding.discover import add_discover_parser, run_discover
from ml_connector.onboarding.doctor import add_doctor_parser, run_doctor
from ml_connector.sandbox.config import PipedrivePlan, SandboxConfig, WorktagTypes

# The demo's tenant names its worktag types as tenants configure them, so discover has work to do.
DEMO_WORKTAG_TYPES = "industry=CUSTOM_WORKTAG_1,segment=CUSTOM_WORKTAG_2,region=CUSTOM_WORKTAG_3:Sales Region"


def _sandbox_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "sandbox",
        help="run the local Workday and Pipedrive servers in the foreground",
        description="Run local servers that behave like Workday and Pipedrive until SIGINT/SIGTERM.",
    )
    add_sandbox_arguments(p)


def add_sandbox_arguments(p: argparse.ArgumentParser) -> None:
    """Flags shared by ``sandbox`` and ``demo``; the defaults are SandboxConfig's."""
    d = SandboxConfig()
    p.add_argument("--host", default=d.host, help="address to listen on (0.0.0.0 inside a container)")
    p.add_argument("--workday-port", type=int, default=d.workday_port, help="0 picks a free port")
    p.add_argument("--pipedrive-port", type=int, default=d.pipedrive_port, help="0 picks a free port")
    p.add_argument("--customers", type=int, default=d.customers, help="Workday customers to generate")
    p.add_argument("--suppliers", type=int, default=d.suppliers, help="Workday suppliers to generate")
    p.add_argument("--seed", type=int, default=d.seed, help="same seed, same data")
    p.add_argument("--latency-ms", type=int, default=d.latency_ms, help="added to every API response")
    p.add_argument("--pipedrive-plan", choices=get_args(PipedrivePlan), default=d.pipedrive_plan)
    p.add_argument("--pipedrive-seats", type=int, default=d.pipedrive_seats)
    p.add_argument("--tenant", default=d.workday.tenant, help="Workday tenant name in the URL paths")
    p.add_argument(
        "--token-ttl", type=int, default=d.access_token_ttl_s, help="OAuth access token lifetime (s)"
    )
    p.add_argument("--rotate-refresh-tokens", action="store_true", help="issue a new refresh token per use")
    p.add_argument(
        "--search-index-lag", type=float, default=d.search_index_lag_s, help="Pipedrive search lag (s)"
    )
    p.add_argument(
        "--workday-max-rps", type=float, default=d.workday_max_rps, help="Workday throttling threshold"
    )
    p.add_argument(
        "--no-rate-limits",
        action="store_true",
        help="disable Pipedrive budgets and burst limits (benchmarks)",
    )
    p.add_argument(
        "--worktag-types",
        type=_worktag_types,
        default=d.worktag_types,
        metavar="ROLE=TYPE_ID[:Name],...",
        help="name the tenant's worktag types as a real tenant might, e.g. "
        "industry=CUSTOM_WORKTAG_1,region=CUSTOM_WORKTAG_3 (roles: industry, segment, region; "
        "default INDUSTRY, SEGMENT, REGION)",
    )


def _worktag_types(text: str) -> WorktagTypes:
    try:
        return WorktagTypes.parse(text)
    except ValueError as exc:  # argparse names the flag: "argument --worktag-types: ..."
        raise argparse.ArgumentTypeError(str(exc)) from None


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    config = SandboxConfig(
        host=args.host,
        workday_port=args.workday_port,
        pipedrive_port=args.pipedrive_port,
        customers=args.customers,
        suppliers=args.suppliers,
        seed=args.seed,
        latency_ms=args.latency_ms,
        pipedrive_plan=args.pipedrive_plan,
        pipedrive_seats=args.pipedrive_seats,
        access_token_ttl_s=args.token_ttl,
        rotate_refresh_tokens=args.rotate_refresh_tokens,
        search_index_lag_s=args.search_index_lag,
        workday_max_rps=args.workday_max_rps,
        enforce_rate_limits=not args.no_rate_limits,
        worktag_types=args.worktag_types,
    )
    config.workday.tenant = args.tenant
    return config


def run_sandbox_foreground(config: SandboxConfig) -> int:
    """Serve until SIGINT or SIGTERM; print the URLs and connection URIs first."""
    from ml_connector.sandbox.runtime import run_sandbox

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with run_sandbox(config) as running:
        print(running.banner(), flush=True)
        print("Sandbox running; stop with Ctrl-C.", file=sys.stderr, flush=True)
        stop.wait()
    print("Sandbox stopped.", file=sys.stderr, flush=True)
    return 0


def _rotate_key_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "rotate-key",
        help="re-encrypt the stored credential state under the newest Fernet key",
        description=(
            "Re-encrypt every entry of the credential store under the first key of "
            "ML_CONNECTOR_FERNET_KEYS. Put the new key first and keep the old one after it, run this "
            "command, then drop the old key."
        ),
    )
    p.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="state directory (default: $ML_CONNECTOR_STATE_DIR, else $AIRFLOW_HOME/ml_connector/state)",
    )


def rotate_key(state_dir: Path | None) -> int:
    """Re-encrypt the store; prints the count, or a clear error and exit status 1."""
    from ml_connector.credentials.keys import KeyConfigError, load_fernet
    from ml_connector.credentials.vault import TokenVault, VaultError, default_state_dir

    root = (state_dir or default_state_dir()) / "credentials"
    if not root.is_dir():
        print(
            f"ml-connector rotate-key: no credential store at {root}; check --state-dir "
            "or ML_CONNECTOR_STATE_DIR",
            file=sys.stderr,
        )
        return 1
    try:
        count = TokenVault(root, load_fernet()).rotate()
    except (KeyConfigError, VaultError) as exc:
        print(f"ml-connector rotate-key: {exc}", file=sys.stderr)
        return 1
    print(f"re-encrypted {count} credential entries under the primary key in {root}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ml-connector", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _sandbox_parser(sub)
    demo = sub.add_parser("demo", help="start the sandbox and run a tour of both APIs against it")
    add_sandbox_arguments(demo)
    demo.set_defaults(worktag_types=WorktagTypes.parse(DEMO_WORKTAG_TYPES))  # a tenant to discover
    _rotate_key_parser(sub)
    add_audit_parser(sub)
    add_doctor_parser(sub)
    add_discover_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "rotate-key":
        return rotate_key(args.state_dir)
    if args.command == "audit":
        return run_audit(args)
    if args.command == "doctor":
        return run_doctor(args)
    if args.command == "discover":
        return run_discover(args)
    config = config_from_args(args)
    if args.command == "sandbox":
        return run_sandbox_foreground(config)
    from ml_connector.demo import run_demo

    return run_demo(config)


if __name__ == "__main__":
    sys.exit(main())
