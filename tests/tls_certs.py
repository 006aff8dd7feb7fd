"""Throw-away certificates for TLS tests: a CA, a broker certificate for 127.0.0.1, client certs."""

from __future__ import annotations

import subprocess
from pathlib import Path

from servers import require_binary


def _openssl(d: Path):
    openssl = require_binary("/usr/bin/openssl", "openssl")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=d, check=True, capture_output=True)

    return run


def make_certs(d: Path) -> Path:
    """ca.crt/ca.key and server.crt/server.key (for IP 127.0.0.1) in ``d``; returns the CA path."""
    run = _openssl(d)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", "ca.key", "-out", "ca.crt")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", "server.key", "-out", "server.csr")
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-extfile", "san.ext", "-out", "server.crt")
    return d / "ca.crt"


def client_cert(d: Path, name: str) -> tuple[Path, Path]:
    """A client certificate with common name ``name``, signed by ``make_certs``' CA in ``d``."""
    run = _openssl(d)
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
        "-keyout", f"{name}.key", "-out", f"{name}.csr")
    run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-out", f"{name}.crt")
    return d / f"{name}.crt", d / f"{name}.key"
