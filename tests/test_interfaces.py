"""The interfaces derived from the configuration models are fresh, and carry no default of their own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_generated_interfaces_are_fresh() -> None:
    """processes/psi.json and the generated CWL blocks equal a fresh generation (`make interfaces`)."""
    proc = subprocess.run([sys.executable, str(ROOT / "scripts/generate_interfaces.py"), "--check"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


def test_psi_parameter_inputs_have_no_default_of_their_own() -> None:
    """The named parameter inputs are optional everywhere and carry no default value: the engine's
    (PsiParams) applies when one is left out, so no interface can run at another value."""
    from snapstamps.psi.config import PROCESS_INPUTS, PsiParams

    desc = json.loads((ROOT / "processes/psi.json").read_text())
    for key, spec in PROCESS_INPUTS.items():
        entry = desc["inputs"][key]
        assert entry["minOccurs"] == 0 and "default" not in entry["schema"], key
        for name, _ in spec.targets:
            assert name in PsiParams.model_fields and f"{name}" in entry["description"], (key, name)
    for rel in ("cwl/psi.cwl", "cwl/tools/psi-prep.cwl", "app-package/psi.cwl"):
        doc = yaml.safe_load((ROOT / rel).read_text())
        tools = doc.get("$graph", [doc])
        for tool in tools:
            ins = tool.get("inputs", {})
            items = ins.items() if isinstance(ins, dict) else ((i["id"].rsplit("/", 1)[-1], i) for i in ins)
            for name, spec in items:
                if name in PROCESS_INPUTS:
                    optional = str(spec["type"]).endswith("?") or "null" in spec["type"]
                    assert "default" not in spec and optional, (rel, name)
        assert "--da-thresh" not in (ROOT / rel).read_text(), rel


def test_cli_command_map_matches_the_registered_commands() -> None:
    """``snapstamps`` registers only the module of the command it runs (lazy imports): the command
    map names every command, each with the module that registers it, and a command's parser
    alone parses as the full one does."""
    from snapstamps.cli import COMMAND_GROUPS, COMMANDS, build_parser

    full = build_parser()
    sub = next(a for a in full._actions if a.dest == "command")
    assert set(sub.choices) == set(COMMANDS)  # type: ignore[arg-type]
    for command, group in COMMANDS.items():
        assert group in COMMAND_GROUPS
        alone = next(a for a in build_parser(command)._actions if a.dest == "command")
        assert command in alone.choices  # type: ignore[operator]
    argv = ["psi", "INSAR_20200101", "--out", "w", "--end", "0", "--param", "da_thresh=0.3"]
    assert vars(build_parser("psi").parse_args(argv)) == vars(full.parse_args(argv))


def test_cli_tool_commands_import_only_what_they_need() -> None:
    """A CWL tool process (``snapstamps stac catalog``, ``snapstamps psi``) does not import the other
    commands' modules and configuration models (the interferogram engine's, the simulators')."""
    code = ("import sys; from snapstamps.cli import build_parser; build_parser('stac'); build_parser('quicklooks'); "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('snapstamps'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    loaded = set(out.split())
    assert {"snapstamps.cli.stac", "snapstamps.cli.results"} <= loaded
    assert not {"snapstamps.cli.ifg", "snapstamps.ifg.config", "snapstamps.simulate.stamps_stack",
                "snapstamps.simulate.safe_stack", "snapstamps.cli.systematic"} & loaded, loaded


def test_psi_catalog_flags_are_checked(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """``snapstamps psi --catalog`` needs the products (step 7 or 8); ``--tiles`` and ``--stack-ref``
    need ``--catalog``: refused in one line before anything runs."""
    from snapstamps.cli import main

    out = str(tmp_path / "w")
    assert main(["psi", "INSAR_20200101", "--out", out, "--end", "4", "--catalog", str(tmp_path / "c")]) == 2
    assert "--catalog needs the products" in capsys.readouterr().err
    assert main(["psi", "INSAR_20200101", "--out", out, "--tiles", "https://t/{z}/{x}/{y}.png"]) == 2
    assert "--tiles is for the catalog" in capsys.readouterr().err
    assert main(["stac", "catalog", out, "--out", str(tmp_path / "c"), "--tiles", "https://t/{z}/{x}/{y}.png"]) == 2
    assert "--tiles needs --make-quicklooks" in capsys.readouterr().err
    assert not (tmp_path / "w").exists() and not (tmp_path / "c").exists()
