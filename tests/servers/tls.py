"""A self-signed certificate for the test servers on 127.0.0.1."""

from __future__ import annotations

import subprocess
from pathlib import Path


def make_certificate(folder: Path) -> None:
    """A self-signed certificate for 127.0.0.1, valid for two days."""
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(folder / "key.pem"),
            "-out",
            str(folder / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
