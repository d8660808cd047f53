"""nox sessions: tests, lint, and one conformance run per backend (each installs only its backend).

CI pins torch to the CPU wheel (TORCH_SPEC=torch==2.13.0); users get whatever torch they ask for.
"""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["lint", "tests"]
TORCH = os.environ.get("TORCH_SPEC", "torch")
BACKENDS = {"torch": [TORCH], "jax": ["jax", "jaxlib", "optax"], "mindspore": ["mindspore"]}
ADAPTERS = {
    "torch": ["torch-cpu-single", "torch-cpu-foreach", "torch-cpu-fused", "torch-sparseadam"],
    "jax": ["optax-cpu"],
    "mindspore": ["mindspore", "mindspore-target-cpu"],
}


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")


@nox.session
def tests(session: nox.Session) -> None:
    """The framework's own tests; backend tests skip when their backend is missing."""
    session.install(TORCH)
    session.install("-e", ".[jax,mindspore,test]")
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "--dist", "loadfile",
                *session.posargs)


def _conformance(session: nox.Session, backend: str) -> None:
    packages = BACKENDS[backend]
    session.install(*packages)
    session.install("-e", ".")
    args = [a for name in ADAPTERS[backend] for a in ("--adapter", name)]
    session.run("adam-conformance", "run", *args, "--baseline", "reports/baseline.toml",
                "--out", f"reports/nox-{backend}", *session.posargs)


@nox.session(name="conformance-torch")
def conformance_torch(session: nox.Session) -> None:
    _conformance(session, "torch")


@nox.session(name="conformance-jax")
def conformance_jax(session: nox.Session) -> None:
    _conformance(session, "jax")


@nox.session(name="conformance-mindspore")
def conformance_mindspore(session: nox.Session) -> None:
    _conformance(session, "mindspore")
