"""Parameter checks for the numbered notebooks under papermill, which only warns about a wrong name (docs/usage.md)."""

from __future__ import annotations

import ast
import math
from typing import Any

from wylib.device import resolve_device

NOT_A_LITERAL = object()  # a default computed by an expression: its type is not checked


class UnknownParameterError(ValueError):
    """A parameter passed to a notebook is not declared in its parameters cell."""


class ParameterValueError(ValueError):
    """A parameter passed to a notebook has a value its default's type or the machine does not allow."""


def _assignments(source: str) -> list[tuple[ast.expr, ast.expr | None]]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    out: list[tuple[ast.expr, ast.expr | None]] = []
    for node in tree.body:
        if isinstance(node, ast.Assign):
            out += [(t, node.value) for t in node.targets]
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            out.append((node.target, node.value))
    return out


def assigned_names(source: str) -> set[str]:
    """Names assigned at top level in a cell's source."""
    return {n.id for target, _ in _assignments(source) for n in ast.walk(target) if isinstance(n, ast.Name)}


def declared_defaults(source: str) -> dict[str, Any]:
    """Default of each name a parameters cell assigns (``NOT_A_LITERAL`` where it is not a literal)."""
    out: dict[str, Any] = {}
    for target, value in _assignments(source):
        if isinstance(target, ast.Name):
            try:
                out[target.id] = ast.literal_eval(value) if value is not None else NOT_A_LITERAL
            except (ValueError, TypeError, SyntaxError):
                out[target.id] = NOT_A_LITERAL
        else:
            out.update({n.id: NOT_A_LITERAL for n in ast.walk(target) if isinstance(n, ast.Name)})
    return out


def value_error(name: str, value: Any, default: Any) -> str | None:
    """Why ``value`` cannot stand for a parameter whose default is ``default`` (None when it can)."""
    if name == "device" and isinstance(value, str):
        try:
            resolve_device(value)
        except ValueError as err:
            return str(err)
    if default is None or default is NOT_A_LITERAL or value is None:
        return None  # optional parameters (default None) take any value; None stands for "not set"
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
        ok = ok or (isinstance(value, str) and value == "auto" and name in ("workers", "n_workers"))
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    else:
        ok = isinstance(value, type(default)) or (isinstance(default, str) and name == "workers")
    if ok:
        return None
    return f"{name}={value!r}: expected a {type(default).__name__} like its default {default!r}"


def parameter_errors(values: dict[str, Any], parameters_source: str) -> list[str]:
    """Unknown names and ill-typed values among ``values`` for a notebook whose parameters cell is given."""
    defaults = declared_defaults(parameters_source)
    errors = [f"unknown parameter {k!r}" for k in sorted(set(values) - set(defaults))]
    errors += [e for k, v in values.items() if k in defaults and (e := value_error(k, v, defaults[k]))]
    return errors


def _parameter_cells(cells: list[str]) -> tuple[str | None, set[str]]:
    """(source of the ``# parameters`` cell, names papermill's ``# Parameters`` cells set)."""
    declared = next((c for c in cells if c.lstrip().startswith("# parameters")), None)
    injected = set().union(*(assigned_names(c) for c in cells if c.lstrip().startswith("# Parameters")))
    return declared, injected


def unknown_parameters(cells: list[str]) -> list[str]:
    """Names injected by papermill but not declared, from the executed cell sources (IPython's ``In``)."""
    declared, injected = _parameter_cells(cells)
    return [] if declared is None else sorted(injected - assigned_names(declared))


def check_parameters() -> None:
    """In a notebook: raise if papermill injected an undeclared parameter or a value of the wrong kind."""
    try:
        from IPython import get_ipython
    except ImportError:  # IPython is there whenever a notebook runs; plain Python has nothing to check
        return
    ip = get_ipython()
    if ip is None:
        return
    declared, injected = _parameter_cells([c for c in ip.user_ns.get("In", []) if isinstance(c, str)])
    if declared is None:
        return
    if unknown := sorted(injected - assigned_names(declared)):
        names = sorted(assigned_names(declared))
        raise UnknownParameterError(f"unknown notebook parameter(s) {unknown}; this notebook declares {names}")
    errors = parameter_errors({k: ip.user_ns[k] for k in injected if k in ip.user_ns}, declared)
    if errors:
        raise ParameterValueError("; ".join(errors))
