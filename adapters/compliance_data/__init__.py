"""Compliance data shipped with Bursar: the default monitoring rules and a sample OFAC SDN list.

* ``monitoring_rules.json``: the rule set in force until ops replace it (version 0); its format
  is ``domain.compliance.monitoring``'s and docs/compliance.md's.
* ``ofac-sample/``: 17 real OFAC SDN entries in OFAC's legacy CSV layout, what
  ``bursar compliance ingest-list`` stores when given no directory, so a development stack can
  screen at once. Production ingests OFAC's full, current files instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from domain.compliance.monitoring import RuleSet, parse_rule_set

HERE: Final = Path(__file__).resolve().parent
DEFAULT_RULES: Final = HERE / "monitoring_rules.json"
SAMPLE_LIST_DIR: Final = HERE / "ofac-sample"


def load_default_rules(path: Path = DEFAULT_RULES) -> RuleSet:
    return parse_rule_set(path.read_bytes())
