"""The case contract: discovery, safe ``.npz`` loading and validation (docs/design.md).

Inputs, ground truth and participant outputs are all ``.npz`` files; anything
that breaks the contract raises :class:`ContractError` naming the case, file, key,
what was expected and what was found, with a short ``reason`` code.
"""

from evalkit.contract.cases import (
    Case,
    ContractWarning,
    discover_cases,
    parse_case_name,
    read_manifest,
    resolve_modality,
)
from evalkit.contract.errors import REASONS, ContractError
from evalkit.contract.interactive import InteractiveInput, load_interactive_input
from evalkit.contract.npz import default_limits, load_npz
from evalkit.contract.validate import (
    CaseInput,
    GroundTruth,
    check_boxes,
    check_imgs,
    check_label_map,
    check_spacing,
    load_gt,
    load_input,
    load_prediction,
)

__all__ = [
    "REASONS",
    "Case",
    "CaseInput",
    "ContractError",
    "ContractWarning",
    "GroundTruth",
    "InteractiveInput",
    "check_boxes",
    "check_imgs",
    "check_label_map",
    "check_spacing",
    "default_limits",
    "discover_cases",
    "load_gt",
    "load_input",
    "load_interactive_input",
    "load_npz",
    "load_prediction",
    "parse_case_name",
    "read_manifest",
    "resolve_modality",
]
