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
