"""Guards for the numbered notebooks when they run under papermill.

Papermill passes parameters by inserting a cell headed ``# Parameters`` after the notebook's
``# parameters`` cell; a misspelled name (``-p temprature 0.5``) only earns a warning and the
notebook silently runs with the default. `refuse_unknown_parameters`, called in the cell after the
parameters cell, compares the names assigned in the injected cell with those of the parameters cell
and raises if any is unknown. Outside IPython, or without an injected cell, it does nothing.
"""

from __future__ import annotations

import ast


class UnknownParameterError(ValueError):
    """A parameter passed to a notebook is not declared in its parameters cell."""


def assigned_names(source: str) -> set[str]:
    """Names assigned at top level in a cell's source."""
    names: set[str] = set()
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return names
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, (ast.AnnAssign, ast.AugAssign))
            else []
        )
        for t in targets:
            names.update(n.id for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def unknown_parameters(cells: list[str]) -> list[str]:
    """Names set by papermill's injected ``# Parameters`` cell but absent from the ``# parameters`` cell.

    `cells`: the executed cell sources in order (IPython's ``In`` history)."""
    declared = next((assigned_names(c) for c in cells if c.lstrip().startswith("# parameters")), None)
    injected = set().union(*(assigned_names(c) for c in cells if c.lstrip().startswith("# Parameters")))
    if declared is None:
        return []
    return sorted(injected - declared)


def refuse_unknown_parameters() -> None:
    """Raise `UnknownParameterError` if papermill injected a parameter this notebook does not declare."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    ip = get_ipython()
    if ip is None:
        return
    cells = [c for c in ip.user_ns.get("In", []) if isinstance(c, str)]
    unknown = unknown_parameters(cells)
    if unknown:
        declared = sorted(next(assigned_names(c) for c in cells if c.lstrip().startswith("# parameters")))
        raise UnknownParameterError(f"unknown notebook parameter(s) {unknown}; this notebook declares {declared}")
