"""Generate ``artisan/domain/events.py`` from the compiled contracts' ABIs.

One ``TypedDict`` per contract event (and per struct its fields carry), typed as the decoder
stores them (``artisan.chain.abi.values``): integers as decimal strings, addresses and byte
strings as lowercase 0x-hex, booleans as booleans, structs as objects, arrays as lists. With
``--check`` it writes nothing and exits 1 if the file is not what the ABIs give (a test runs
it so, as CI does): a field renamed in Solidity fails the build until the code follows.

    .venv/bin/python scripts/gen_events.py [--check]
"""

from __future__ import annotations

import json
import keyword
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "build" / "contracts"
TARGET = ROOT / "artisan" / "domain" / "events.py"
CONTRACTS = ("ArtToken", "ModelRegistry", "ExecutionLedger", "Curation", "Feedback",
             "RewardDistributor")  # fmt: skip

HEADER = '''# ruff: noqa: E501 (signatures are long strings)
"""The protocol's contract events, typed: generated from the ABIs, do not edit.

``scripts/gen_events.py`` writes this file from ``build/contracts/*.json``; ``--check`` (run by
the tests) fails when it is stale. Each ``<Event>`` TypedDict is an event's arguments as the
event store keeps them (``artisan.chain.abi.values``): integers as decimal strings, addresses
and byte strings as lowercase 0x-hex, booleans as booleans, structs as objects, arrays as
lists. ``SIGNATURES`` gives each event's canonical signature (its topic is the keccak of it),
``FIELDS`` its argument names in ABI order.
"""

from __future__ import annotations

from typing import TypedDict

'''


def canonical(param: dict[str, Any]) -> str:
    typ = str(param["type"])
    if typ.startswith("tuple"):
        inner = ",".join(canonical(c) for c in param["components"])
        return f"({inner}){typ[len('tuple') :]}"
    return typ


def struct_name(param: dict[str, Any]) -> str:
    internal = str(param.get("internalType", ""))  # "struct Metering.Meter[]"
    # MeterStruct: the domain's own Meter (artisan.domain.types) keeps the plain name.
    return internal.removeprefix("struct ").split("[")[0].split(".")[-1] + "Struct"


def py_type(param: dict[str, Any], structs: dict[str, list[dict[str, Any]]]) -> str:
    typ = str(param["type"])
    depth = typ.count("[")
    base = typ.split("[")[0]
    if base == "tuple":
        name = struct_name(param)
        structs.setdefault(name, param["components"])
        inner = name
    elif base == "bool":
        inner = "bool"
    else:
        inner = "str"
    for _ in range(depth):
        inner = f"list[{inner}]"
    return inner


def _quoted(param: dict[str, Any], i: int) -> str:
    return '"' + str(param.get("name") or f"arg{i}") + '"'


def events() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name in CONTRACTS:
        artifact = json.loads((ARTIFACTS / f"{name}.json").read_text())
        abi = artifact["abi"] if isinstance(artifact, dict) else artifact
        for entry in abi:
            if entry.get("type") != "event":
                continue
            sig = f"{entry['name']}({','.join(canonical(i) for i in entry['inputs'])})"
            seen = found.get(entry["name"])
            if seen is not None and seen["signature"] != sig:
                raise SystemExit(f"two events named {entry['name']}: {seen['signature']}, {sig}")
            found[entry["name"]] = {"signature": sig, "inputs": entry["inputs"]}
    return dict(sorted(found.items()))


def render() -> str:
    structs: dict[str, list[dict[str, Any]]] = {}
    classes: list[str] = []
    found = events()
    for name, event in found.items():
        fields_of = [(p.get("name") or f"arg{i}", py_type(p, structs))
                     for i, p in enumerate(event["inputs"])]  # fmt: skip
        if any(keyword.iskeyword(f) for f, _ in fields_of):  # "from": only the call form
            items = ", ".join(f'"{f}": {t}' for f, t in fields_of)
            classes.append(
                f"# ``{event['signature']}``\n{name} = TypedDict(\"{name}\", {{{items}}})"
            )
            continue
        lines = [f"class {name}(TypedDict):", f'    """``{event["signature"]}``"""', ""]
        lines += [f"    {f}: {t}" for f, t in fields_of]
        classes.append("\n".join(lines))
    struct_classes = []
    for name, components in sorted(structs.items()):
        solidity = name.removesuffix("Struct")
        lines = [f"class {name}(TypedDict):", f'    """The ``{solidity}`` struct."""', ""]
        for component in components:
            lines.append(f"    {component['name']}: {py_type(component, structs)}")
        struct_classes.append("\n".join(lines))
    signatures = "\n".join(f'    "{n}": "{e["signature"]}",' for n, e in found.items())
    fields = "\n".join(
        f'    "{n}": ({"".join(_quoted(p, i) + ", " for i, p in enumerate(e["inputs"]))}),'
        for n, e in found.items()
    )
    body = "\n\n\n".join(struct_classes + classes)
    text = (
        f"{HEADER}\n{body}\n\n\nSIGNATURES: dict[str, str] = {{\n{signatures}\n}}\n\n"
        f"FIELDS: dict[str, tuple[str, ...]] = {{\n{fields}\n}}\n"
    )
    # As `make check` formats it: the project's ruff, from the same virtual environment.
    ruff = Path(sys.executable).parent / "ruff"
    return subprocess.run(
        [str(ruff), "format", "--stdin-filename", str(TARGET), "-"],
        input=text, capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not TARGET.exists() or TARGET.read_text() != text:
            stale = f"{TARGET.relative_to(ROOT)} is stale: run scripts/gen_events.py"
            print(stale, file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
