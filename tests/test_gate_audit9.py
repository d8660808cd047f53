"""What wave 9 closed on the gate's surfaces.

A misspelt user module (``--adapter torch:mypkgg.optim:MyAdam``) used to start every worker and give
exit 1 with every case an ERROR: now it is refused in one line, exit 2, before --out is touched, and
without importing anything in the gate process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conformance import registry
from conformance.errors import UsageError

pytest_plugins = ["pytester"]

TINY = ("--clauses", "UPD-MOMENTS", "--dtypes", "float32", "--max-examples", 1, "--no-corpus", "--no-shrink",
        "--quiet")


# ---- a user module that is nowhere on the path ------------------------------------------------------------

@pytest.mark.parametrize("spec", ["torch:no_such_pkg_w9.optim:MyAdam", "optax:no_such_pkg_w9:my_adam",
                                  "no_such_pkg_w9.adapters:adapter"])
def test_a_module_nowhere_on_the_path_is_refused_before_out_is_touched(cli: Any, tmp_path: Path,
                                                                      spec: str) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text("{}")  # what a previous run left: it must survive the refusal
    proc = cli("run", "--adapter", spec, *TINY, "--out", out)
    assert proc.returncode == 2, proc.stderr[-2000:]
    line = cli.usage_error(proc)
    assert "no module named 'no_such_pkg_w9'" in line and spec in line
    assert (out / "run.json").read_text() == "{}"


def test_the_check_imports_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "loud_w9.py").write_text("raise SystemExit('imported in the gate process')\n")
    pkg = tmp_path / "loudpkg_w9"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise SystemExit('imported in the gate process')\n")
    monkeypatch.chdir(tmp_path)  # the working directory is searched first, as the worker does
    for spec in ("torch:loud_w9:Adam", "loudpkg_w9.missing:adapter", "optax:loudpkg_w9.sub:f"):
        registry.check_findable(spec)  # found, and not imported
    import sys
    assert "loud_w9" not in sys.modules and "loudpkg_w9" not in sys.modules


def test_registered_names_files_and_installed_modules_pass() -> None:
    for spec in ("reference", "torch:conformance.zoo.faithful_torch:FaithfulAdam", "examples/kit_numpy.py:adapter",
                 "optax:json:loads"):
        registry.check_findable(spec)
    with pytest.raises(UsageError, match="no module named 'no_such_pkg_w9'"):
        registry.check_findable("torch:no_such_pkg_w9:X")


def test_a_missing_submodule_of_a_real_package_is_still_the_workers_to_report(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = cli("run", "--adapter", "torch:conformance.zoo.no_such_w9:X", *TINY, "--out", out)
    assert proc.returncode == 1, proc.stderr[-2000:]
    recs = cli.records(out)
    assert recs and all(r["verdict"] == "ERROR" and "conformance.zoo.no_such_w9" in r["message"] for r in recs)


def test_the_python_api_refuses_it_too(tmp_path: Path) -> None:
    import conformance
    with pytest.raises(UsageError, match="no module named 'no_such_pkg_w9'"):
        conformance.run(conformance.RunConfig(adapters=["torch:no_such_pkg_w9:X"], out=tmp_path / "r",
                                              clauses="UPD-MOMENTS", dtypes="float32", max_examples=1))
    assert not (tmp_path / "r").exists()



def test_the_plugin_refuses_a_misspelt_module_in_one_line(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_inprocess("--adam-adapter", "torch:no_such_pkg_w9:Cls", "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.startswith("ERROR:")]
    assert len(errors) == 1 and "no module named 'no_such_pkg_w9'" in errors[0], result.stderr.str()
    assert not (pytester.path / "reports").exists()


def test_replay_refuses_a_misspelt_module_in_one_line(cli: Any) -> None:
    case = next((Path(__file__).resolve().parent.parent / "reports" / "published" / "failures").glob("*.json"))
    proc = cli("replay", case, "--adapter", "torch:no_such_pkg_w9:X")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "no module named 'no_such_pkg_w9'" in cli.usage_error(proc)
