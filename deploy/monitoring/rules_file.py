"""Write the PrometheusRule's rule groups as a plain Prometheus rule file, for promtool.

The PrometheusRule (deploy/k8s/components/monitoring/prometheusrule.yaml) is the one source
of the alerts; its ``spec`` is exactly a Prometheus rule file. A Prometheus without the
Operator can load the file this writes (``rule_files:``).

    python deploy/monitoring/rules_file.py OUT_DIR   # writes OUT_DIR/picupscaler.rules.yaml
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

RULE = (
    Path(__file__).resolve().parents[1]
    / "k8s"
    / "components"
    / "monitoring"
    / "prometheusrule.yaml"
)
FILE_NAME = "picupscaler.rules.yaml"


def write_rules_file(out_dir: Path) -> Path:
    """Write the rule groups to ``out_dir/picupscaler.rules.yaml``; return its path."""
    spec = yaml.safe_load(RULE.read_text())["spec"]
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / FILE_NAME
    path.write_text(yaml.safe_dump(spec, sort_keys=False, width=120))
    return path


if __name__ == "__main__":
    print(write_rules_file(Path(sys.argv[1] if len(sys.argv) > 1 else ".")))
