"""Run a script (app.py) with every network connection it attempts beyond this machine written to
$UNSIR_NETWORK_LOG, one JSON line each: Python's audit hooks see every socket connect, send and
name lookup, whichever library makes it.

    UNSIR_NETWORK_LOG=connections.jsonl python tests/network_audit.py app.py
"""
from __future__ import annotations

import ipaddress
import json
import os
import runpy
import socket
import sys

LOCAL_NAMES = {"localhost", "", None}


def is_local(host) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    try:
        address = ipaddress.ip_address(str(host).split("%")[0])
    except ValueError:
        return host in LOCAL_NAMES
    return address.is_loopback or address.is_unspecified


def main() -> None:
    log = open(os.environ["UNSIR_NETWORK_LOG"], "a", buffering=1)  # noqa: SIM115 (open for the process's life)

    def audit(event: str, args: tuple) -> None:
        if event in ("socket.connect", "socket.sendto"):
            sock, address = args[0], args[-1]
            outward = sock.family in (socket.AF_INET, socket.AF_INET6) and not is_local(address[0])
        elif event == "socket.getaddrinfo":
            address, outward = args[:2], not is_local(args[0])
        else:
            return
        if outward:
            log.write(json.dumps({"event": event, "address": [str(part) for part in address]}) + "\n")

    sys.addaudithook(audit)
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path[0] = os.path.dirname(os.path.abspath(script))  # as `python app.py` would have it
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
