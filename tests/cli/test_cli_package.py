"""The shape of ``runpod_facade.cli``: small modules, one per command group, one table of
exit codes, one secret-masking mechanism (the façade's)."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

import pytest

import runpod_facade.cli as cli
from runpod_facade.cli import _exit, _parser
from tests._support.operations import OPERATIONS

PACKAGE = Path(cli.__file__).parent
#: Commands that are not one operation of the spec: ``wait`` (long-polls or polls until the
#: job ends), ``batch`` (runs a JSONL file of inputs) and ``serve`` (runs a local endpoint).
#: The CLI's own commands (no operation of the queue spec): `lb` drives load-balancing endpoints.
CLI_ONLY = {"wait", "batch", "serve", "lb"}
MODULES = sorted(PACKAGE.glob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_modules_stay_small(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 300


def test_each_command_group_registers_its_commands() -> None:
    commands: set[str] = set()
    for group in _parser._GROUPS:
        parser = argparse.ArgumentParser()
        subparsers = parser.add_subparsers()
        group.register(subparsers)
        commands |= set(subparsers.choices)
    # Every operation the spec gives a CLI name, plus the CLI's own commands.
    operations = {info.cli for info in OPERATIONS.values() if info.cli is not None}
    assert commands == operations | CLI_ONLY


def test_every_exit_code_is_documented_once() -> None:
    assert cli.__doc__ is not None
    parser_help = _parser.build_parser().format_help()
    for code, meaning in _exit.EXIT_CODES:
        assert f"\n    {code:<4} " in cli.__doc__, code
        assert f"\n  {code:<4} {meaning}" in parser_help, code
    codes = [code for code, _ in _exit.EXIT_CODES]
    assert len(codes) == len(set(codes))


def test_no_second_scrubber_and_no_second_env_names() -> None:
    for path in MODULES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                assert node.name not in {"_Secrets", "_Scrub"}, path.name
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        assert not target.id.startswith("ENV_"), (path.name, target.id)
