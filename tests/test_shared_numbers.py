"""Every number shared across languages equals its Python source of truth.

Sources of truth: `mipsvm/layout.py` (memory map, Merkle tree, syscalls, fault codes),
`mipsvm/state.py` (packed state) and `minidnn/format.py` (the .mdnn format: op ids, attribute
keys, error codes, limits). The copies are hand-written and parsed here: the C runtime
(`minidnn/csrc`), the crt0 and link script (`mipsvm/data`), the Solidity constants
(`contracts/src/*.sol`) and the docs tables. Where each number lives: docs/vm-spec.md §8 (shared
numbers) and docs/model-format.md §Shared numbers.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from minidnn import format as fmt
from mipsvm import layout
from mipsvm.elf import SP_REG
from mipsvm.state import STATE_FORMAT, STATE_SIZE

ROOT = Path(__file__).resolve().parents[1]
CSRC = ROOT / "minidnn" / "csrc"
SOL_DIR = ROOT / "contracts" / "src"
DOCS = ROOT / "docs"

# Every upper-case integer of layout.py, in definition order (the fault table is compared in order).
LAYOUT: dict[str, int] = {k: v for k, v in vars(layout).items() if k.isupper() and isinstance(v, int)}
FAULTS: dict[str, int] = {k: v for k, v in LAYOUT.items() if k.startswith("FAULT_")}

# Op names whose C enum name is not the plain UPPER_SNAKE form of the ONNX name.
C_OP_NAMES = {"MatMul": "MATMUL", "BatchNormalization": "BATCH_NORM", "LayerNormalization": "LAYER_NORM",
              "QLinearMatMul": "QLINEAR_MATMUL", "MatMulInteger": "MATMUL_INTEGER", "QLinearConv": "QLINEAR_CONV",
              "QGemm": "QGEMM"}

_BINOPS: dict[type[ast.operator], Callable[[int, int], int]] = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
    ast.LShift: lambda a, b: a << b, ast.RShift: lambda a, b: a >> b,
    ast.BitOr: lambda a, b: a | b, ast.BitAnd: lambda a, b: a & b,
}


def evaluate(expr: str, lookup: Callable[[str], int]) -> int:
    """Value of a C/Solidity integer constant expression (literals, names, A.B, + - * << >> | &)."""
    text = re.sub(r"\b(0[xX][0-9a-fA-F_]+|[0-9][0-9_]*)[uUlL]+\b", r"\1", expr.strip())
    units = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}   # Solidity
    text = re.sub(r"\b([0-9][0-9_]*)\s+(seconds|minutes|hours|days|weeks)\b",
                  lambda m: f"({m.group(1)} * {units[m.group(2)]})", text)

    def ev(node: ast.AST) -> int:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if isinstance(node, ast.Name):
            return lookup(node.id)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            return lookup(f"{node.value.id}.{node.attr}")
        raise ValueError(f"cannot evaluate {ast.unparse(node)!r} in {expr!r}")

    return ev(ast.parse(text, mode="eval").body)


def _strip_comments(src: str) -> str:
    return re.sub(r"/\*.*?\*/|//[^\n]*", " ", src, flags=re.S)


def c_constants(*paths: Path) -> dict[str, int]:
    """Integer object-like `#define`s and enum members of C files, in order (later may use earlier)."""
    values: dict[str, int] = {}
    for path in paths:
        src = _strip_comments(path.read_text())
        items = [(m.start(), "define", m.group(1), m.group(2))
                 for m in re.finditer(r"^[ \t]*#define[ \t]+(\w+)[ \t]+([^\n]+)$", src, flags=re.M)]
        items += [(m.start(), "enum", "", m.group(1)) for m in re.finditer(r"\benum\s*\{(.*?)\}", src, re.S)]
        for _, kind, name, body in sorted(items):
            if kind == "define":
                try:
                    values[name] = evaluate(body, values.__getitem__)
                except (ValueError, KeyError, SyntaxError):
                    continue  # not an integer constant (e.g. a type or a string)
                continue
            nxt = 0
            for member in filter(None, (m.strip() for m in body.split(","))):
                name, _, expr = (s.strip() for s in member.partition("="))
                nxt = evaluate(expr, values.__getitem__) if expr else nxt
                values[name] = nxt
                nxt += 1
    return values


def solidity_constants() -> dict[str, dict[str, int]]:
    """Constants of every contract/library in contracts/src, by contract name (A.B references resolved)."""
    raw: dict[str, dict[str, str]] = {}
    for path in sorted(SOL_DIR.glob("*.sol")):
        src = _strip_comments(path.read_text())
        decls = list(re.finditer(r"^\s*(?:abstract\s+)?(?:contract|library|interface)\s+(\w+)", src, re.M))
        for decl, end in zip(decls, [*[d.start() for d in decls[1:]], len(src)], strict=True):
            body = src[decl.end():end]
            raw[decl.group(1)] = dict(re.findall(r"\bconstant\s+(\w+)\s*=\s*([^;]+);", body))
    done: dict[str, dict[str, int]] = {c: {} for c in raw}

    def get(contract: str, name: str) -> int:
        def resolve(ref: str) -> int:
            return get(*ref.split(".")) if "." in ref else get(contract, ref)

        if name not in done[contract]:
            done[contract][name] = evaluate(raw[contract][name], resolve)
        return done[contract][name]

    for contract, consts in raw.items():
        for name in consts:
            get(contract, name)
    return done


def section(path: Path, heading: str) -> str:
    """The text of the markdown section whose heading line starts with `heading` (up to the next one)."""
    text = path.read_text()
    level = heading.split(" ", 1)[0]
    m = re.search(rf"^{re.escape(heading)}.*?$(.*?)(?=^#{{1,{len(level)}}} |\Z)", text, re.M | re.S)
    assert m, f"{path.name}: no section {heading!r}"
    return m.group(1)


def number(text: str, pattern: str, where: str) -> int:
    """The integer captured by `pattern` (group 1; `2^k` and hex accepted) in `text`."""
    m = re.search(pattern, text)
    assert m, f"{where}: nothing matches {pattern!r} (the copy moved or changed form)"
    value = m.group(1)
    if "^" in value:
        base, exp = value.split("^")
        return int(base) ** int(exp)
    return int(value, 0)


def mismatches(copy: Mapping[str, int], truth: Mapping[str, int]) -> list[str]:
    """Names whose values differ, or that only one side has."""
    return [f"{k}: copy {copy.get(k)!r} != source {truth.get(k)!r}"
            for k in sorted(set(copy) | set(truth)) if copy.get(k) != truth.get(k)]


# ---- the evaluators themselves ----------------------------------------------------------------

def test_evaluate_reads_c_and_solidity_literals() -> None:
    names = {"A": 3, "L.B": 5}
    assert evaluate("(1u << 26)", names.__getitem__) == 1 << 26
    assert evaluate("0x4e4e444du", names.__getitem__) == 0x4E4E444D
    assert evaluate("32 * (1 + A) + L.B", names.__getitem__) == 133
    with pytest.raises(ValueError, match="cannot evaluate"):
        evaluate("uint32(7)", names.__getitem__)


def test_c_constants_parses_defines_and_enums(tmp_path: Path) -> None:
    src = tmp_path / "x.h"
    src.write_text("#define BASE 0x10u /* c */\nenum { A = BASE, B, C = 7 }; // d\n#define NAME \"s\"\n")
    assert c_constants(src) == {"BASE": 16, "A": 16, "B": 17, "C": 7}


# ---- minidnn/format.py vs the C runtime ----------------------------------------------------------

def _c_op_name(op: str) -> str:
    return "MD_OP_" + C_OP_NAMES.get(op, re.sub(r"(?<!^)(?=[A-Z])", "_", op).upper())


def test_op_ids_in_ops_h() -> None:
    c = c_constants(CSRC / "ops.h")
    copy = {k: v for k, v in c.items() if k.startswith("MD_OP_") and k != "MD_OP_MAX_ID"}
    assert mismatches(copy, {_c_op_name(op): i for op, i in fmt.OP_IDS.items()}) == []
    assert max(fmt.OP_IDS.values()) <= c["MD_OP_MAX_ID"]
    table = re.findall(r"\[(MD_OP_\w+)\]\s*=", _strip_comments((CSRC / "ops.c").read_text()))
    assert sorted(table) == sorted(copy), "ops.c: the kernel table must list every MD_OP_* exactly once"


def test_error_codes_in_ops_h() -> None:
    c = c_constants(CSRC / "ops.h")
    copy = {k: v for k, v in c.items() if k.startswith("MD_ERR_") or k == "MD_OK"}
    assert mismatches(copy, {"MD_OK": 0} | {f"MD_ERR_{n}": code for code, n in fmt.ERROR_NAMES.items()}) == []


def test_attributes_in_ops_h_and_model_c() -> None:
    c = c_constants(CSRC / "ops.h")
    types = {"MD_ATTR_INT": fmt.ATTR_INT, "MD_ATTR_FLOAT": fmt.ATTR_FLOAT,
             "MD_ATTR_INTS": fmt.ATTR_INTS, "MD_ATTR_FLOATS": fmt.ATTR_FLOATS}
    keys = {k: v for k, v in c.items()
            if k.startswith("MD_ATTR_") and k not in types and k != "MD_ATTR_MAX_KEY"}
    assert mismatches(keys, {f"MD_ATTR_{name.upper()}": key for name, (key, _) in fmt.ATTRS.items()}) == []
    assert mismatches({k: c[k] for k in types if k in c}, types) == []
    assert max(key for key, _ in fmt.ATTRS.values()) <= c["MD_ATTR_MAX_KEY"]
    # model.c rejects keys above the highest one: it must name the attribute with the largest key.
    m = re.search(r"a->key > (MD_ATTR_\w+)", _strip_comments((CSRC / "model.c").read_text()))
    assert m, "model.c: no upper bound check on attribute keys (the copy moved or changed form)"
    assert c[m.group(1)] == max(key for key, _ in fmt.ATTRS.values())
    coord = {k: v for k, v in c.items() if k.startswith("MD_COORD_")}
    assert mismatches(coord, {f"MD_COORD_{n.upper()}": v for n, v in fmt.COORD_MODES.items()}) == []
    nearest = {k: v for k, v in c.items() if k.startswith("MD_NEAREST_")}
    assert mismatches(nearest, {f"MD_NEAREST_{n.upper()}": v for n, v in fmt.NEAREST_MODES.items()}) == []


def test_format_limits_in_c() -> None:
    c = c_constants(CSRC / "ops.h", CSRC / "runtime.h")
    model_c = c_constants(CSRC / "model.c")
    copies = {
        "MD_MAX_DIMS": (c, fmt.MAX_DIMS), "MD_MAX_IO": (c, fmt.MAX_IO), "MD_ABSENT": (c, fmt.ABSENT),
        "MD_DTYPE_F32": (c, fmt.DTYPE_F32), "MD_DTYPE_I32": (c, fmt.DTYPE_I32),
        "MD_DTYPE_I8": (c, fmt.DTYPE_I8), "MD_DTYPE_U8": (c, fmt.DTYPE_U8),
        "MAGIC": (model_c, int.from_bytes(fmt.MAGIC, "little")), "VERSION": (model_c, fmt.VERSION),
        "CHECKSUM_OFFSET": (model_c, fmt.CHECKSUM_OFFSET),
        "HEADER_SIZE": (model_c, fmt.HEADER_SIZE), "TENSOR_REC": (model_c, fmt.TENSOR_RECORD_SIZE),
        "NODE_REC": (model_c, fmt.NODE_RECORD_SIZE), "ATTR_REC": (model_c, fmt.ATTR_RECORD_SIZE),
        "DATA_ALIGN": (model_c, fmt.DATA_ALIGN), "MAX_LIST": (model_c, fmt.MAX_LIST),
        "MAX_ELEMENTS": (model_c, fmt.MAX_ELEMENTS), "KIND_VALUE": (model_c, fmt.KIND_VALUE),
        "KIND_CONSTANT": (model_c, fmt.KIND_CONSTANT),
        "MD_FLAG_GENERATE": (c, fmt.FLAG_GENERATE), "MD_GEN_HEADER_WORDS": (c, fmt.GEN_HEADER_WORDS),
    }
    assert [f"{name}: C {consts.get(name)!r} != Python {value!r}"
            for name, (consts, value) in copies.items() if consts.get(name) != value] == []


# ---- mipsvm/layout.py vs the C side (minidnn's VM entry, crt0, link script) ----------------------

def test_memory_map_in_main_vm_c() -> None:
    copy = c_constants(CSRC / "main_vm.c")
    assert {"MODEL_BASE", "MODEL_END", "INPUT_BASE", "OUTPUT_BASE", "ARENA_BASE", "ARENA_END"} <= set(copy)
    assert mismatches(copy, {k: LAYOUT[k] for k in copy if k in LAYOUT}) == []


def test_no_c_source_redefines_a_layout_number_differently() -> None:
    for path in sorted(CSRC.glob("*.[ch]")):
        copy = {k: v for k, v in c_constants(path).items() if k in LAYOUT}
        assert mismatches(copy, {k: LAYOUT[k] for k in copy}) == [], path.name


def test_toy_program_regions() -> None:
    copy = {k: v for k, v in c_constants(ROOT / "challenger" / "data" / "toy_model.c").items() if k in LAYOUT}
    assert {"INPUT_BASE", "OUTPUT_BASE"} <= set(copy)
    assert mismatches(copy, {k: LAYOUT[k] for k in copy}) == []


def test_crt0_exit_syscall_and_link_script_base() -> None:
    crt0 = _strip_comments((ROOT / "mipsvm" / "data" / "crt0.c").read_text())
    assert number(crt0, r'__asm__\("\$2"\)\s*=\s*(\d+)\s*;', "crt0.c $v0") == layout.SYS_EXIT
    link = _strip_comments((ROOT / "mipsvm" / "data" / "link.ld").read_text())
    assert number(link, r"\.\s*=\s*(0x[0-9a-fA-F]+)\s*;", "link.ld start") == layout.PROGRAM_BASE


# ---- mipsvm/layout.py and mipsvm/state.py vs the Solidity constants -------------------------------

REGS_OFFSET = STATE_FORMAT.size - 4 * 32
PYTHON_FOR_SOLIDITY: dict[str, int] = LAYOUT | {
    "STATE_SIZE": STATE_SIZE,
    "SP_OFFSET": REGS_OFFSET + 4 * SP_REG,                # byte offset of $sp in the packed state
}
# Copies that must exist (so that renaming one cannot make the comparison pass vacuously).
SOLIDITY_COPIES: dict[str, set[str]] = {
    "MIPSMemory": {"TREE_DEPTH", "LEAF_SIZE", "PROOF_SIZE", "PROOF_MASK_SIZE"},
    "RegionMerkle": {"TREE_DEPTH", "LEAF_SIZE"},
    "ModelRegistry": {"TREE_DEPTH", "MAX_STEPS"},
    "PackedState": {"STATE_SIZE", "STACK_TOP", "SP_OFFSET"},
    "MIPS": {"STATE_SIZE", "TREE_DEPTH", "SYS_EXIT", "SYS_EXIT_GROUP", *FAULTS},
}


def test_solidity_constants_equal_python() -> None:
    sol = solidity_constants()
    missing = [f"{c}.{n}" for c, names in SOLIDITY_COPIES.items() for n in names if n not in sol.get(c, {})]
    assert missing == [], "Solidity copies not found (renamed or moved? update SOLIDITY_COPIES)"
    assert [f"{c}.{n} = {v:#x}, Python {PYTHON_FOR_SOLIDITY[n]:#x}"
            for c, consts in sol.items() for n, v in consts.items()
            if n in PYTHON_FOR_SOLIDITY and v != PYTHON_FOR_SOLIDITY[n]] == []


def test_solidity_zero_hash_table_equals_python() -> None:
    """MIPSMemory.zeroHashes() writes zero[1..26] as literals (zero[0] is the zero leaf): mipsvm.memory's."""
    from mipsvm.memory import ZERO_HASHES

    body = _strip_comments((SOL_DIR / "MIPSMemory.sol").read_text()).split("function zeroHashes", 1)[1]
    body = body.split("function ", 1)[0]
    table = {int(off, 16) // 32: bytes.fromhex(h) for off, h in
             re.findall(r"mstore\(add\(z, (0x[0-9a-f]+)\), 0x([0-9a-f]{64})\)", body)}
    assert table == {k: ZERO_HASHES[k] for k in range(1, layout.TREE_DEPTH)}


def test_contract_wrapper_constants_equal_solidity() -> None:
    """contracts/system.py's copies of the game contract's bounds (used to check arguments first)."""
    import contracts.system as wrapper

    sol = {**solidity_constants()["ModelRegistry"], **solidity_constants()["Optimist"]}
    names = ("BPS", "MAX_REQUEST_TIME", "MIN_PERIOD", "MAX_WINDOW", "MAX_CLOCK", "MAX_REOPEN_DELAY", "MAX_STEPS")
    assert [n for n in names if n not in sol] == []
    assert [f"{n}: Solidity {sol[n]}, Python {getattr(wrapper, n)}" for n in names if sol[n] != getattr(wrapper, n)] == []


# ---- the docs ------------------------------------------------------------------------------------

def test_model_format_doc_tables() -> None:
    doc = DOCS / "model-format.md"
    ops = section(doc, "## Ops")
    assert {m[1]: int(m[0]) for m in re.findall(r"^\| (\d+) \| (\w+) \|", ops, re.M)} == fmt.OP_IDS
    for key, name in re.findall(r"(\d+): (\w+)", ops):  # attributes named in the op table
        assert fmt.ATTRS[name][0] == int(key), f"op table: attribute {name} has key {fmt.ATTRS[name][0]}"
    keys = re.search(r"Attribute keys: (.*?)\.\n", ops, re.S)
    assert keys, "model-format.md: no 'Attribute keys:' line"
    listed = {name: int(key) for key, name in re.findall(r"(\d+) (\w+)", keys.group(1))}
    assert listed == {name: key for name, (key, _) in fmt.ATTRS.items()}
    errors = section(doc, "## Errors")
    listed_errors = {int(m[0]): m[1] for m in re.findall(r"^\| (\d+) \| ([A-Z_]+) \|", errors, re.M)}
    assert listed_errors == {0: "OK"} | fmt.ERROR_NAMES
    text = doc.read_text()
    types = re.search(r"`type`: (\d+) = int \(int32\), (\d+) = float \(float32 bits\), (\d+) = ints, "
                      r"(\d+) = floats", text)
    assert types, "model-format.md: no attribute `type` line"
    assert tuple(map(int, types.groups())) == (fmt.ATTR_INT, fmt.ATTR_FLOAT, fmt.ATTR_INTS, fmt.ATTR_FLOATS)
    prose = {
        r"### Header \((\d+) bytes\)": fmt.HEADER_SIZE,
        r"### Tensor record \((\d+) bytes\)": fmt.TENSOR_RECORD_SIZE,
        r"### Node record \((\d+) bytes\)": fmt.NODE_RECORD_SIZE,
        r"### Attribute record \((\d+) bytes\)": fmt.ATTR_RECORD_SIZE,
        r"\| 4 \| version \| (\d+) \|": fmt.VERSION,
        r"\| data \| (\d+) \|": fmt.DATA_ALIGN,
        r"`kind`: (\d+) = value": fmt.KIND_VALUE,
        r"(\d+) = constant": fmt.KIND_CONSTANT,
        r"`dtype`: (\d+) = float32": fmt.DTYPE_F32,
        r"(\d+) = int32 \(constants": fmt.DTYPE_I32,
        r"(\d+) = int8 \(": fmt.DTYPE_I8,
        r"(\d+) = uint8 \(": fmt.DTYPE_U8,
        r"`ndim` 0\.\.(\d+)": fmt.MAX_DIMS,
        r"at most (2\^\d+)": fmt.MAX_ELEMENTS,
        r"At most (\d+) inputs and": fmt.MAX_IO,
        r"(\d+)\s+outputs per node": fmt.MAX_IO,
        r"`count` 0\.\.(\d+)": fmt.MAX_LIST,
        r"`(0x[0-9A-F]+)` = absent": fmt.ABSENT,
        r"`MODEL_BASE`\s+\((0x[0-9a-fA-F]+)\)": layout.MODEL_BASE,
    }
    assert [f"{p}: doc {number(text, p, doc.name)} != {v}" for p, v in prose.items()
            if number(text, p, doc.name) != v] == []
    assert f'`b"{fmt.MAGIC.decode()}"`' in text


def test_vm_spec_doc_tables() -> None:
    doc = DOCS / "vm-spec.md"
    rows = re.findall(r"^\| (\w+)\s*\| `(0x[0-9A-F]+) – (0x[0-9A-F]+)` \|", section(doc, "## 8."), re.M)
    assert {name: (int(lo, 16), int(hi, 16)) for name, lo, hi in rows} == {
        "program": (layout.PROGRAM_BASE, layout.PROGRAM_END - 1),
        "model": (layout.MODEL_BASE, layout.MODEL_END - 1),
        "input": (layout.INPUT_BASE, layout.INPUT_END - 1),
        "output": (layout.OUTPUT_BASE, layout.OUTPUT_END - 1),
        "arena": (layout.ARENA_BASE, layout.ARENA_END - 1),
        "stack": (layout.STACK_BOTTOM, layout.STACK_TOP),
    }
    faults = re.findall(r"^\| (0x8[0-9A-F]) \|", section(doc, "## 6."), re.M)
    assert [int(f, 16) for f in faults] == list(FAULTS.values())
    text = doc.read_text()
    for code in re.findall(r"\bhalts?(?:\(|\s+with\s+|\s+)(0x[0-9A-F]{2})\b", text):  # per-instruction halt codes
        assert int(code, 16) in FAULTS.values(), f"vm-spec.md: halt {code} is no fault code"
    prose = {
        r"`STACK_TOP` = `(0x[0-9A-F]+)`": layout.STACK_TOP,
        r"grows down from `\$sp = (0x[0-9A-F]+)`": layout.STACK_TOP,
        r"\*\*Depth (\d+)\*\*": layout.TREE_DEPTH,
        r"\*\*Memory proof\*\* \((\d+) bytes\)": layout.PROOF_SIZE,
        r"no padding: (\d+) bytes": STATE_SIZE,
        r"= (\d+) \(`exit`\)": layout.SYS_EXIT,
        r"or (\d+) \(`exit_group`\)": layout.SYS_EXIT_GROUP,
        r"Any other `\$v0` halts with (0x[0-9A-F]+)": layout.FAULT_BAD_SYSCALL,
        r"= `\[(0x[0-9A-F]+), 0x[0-9A-F]+\)`": layout.PROGRAM_BASE,
        r"= `\[0x[0-9A-F]+, (0x[0-9A-F]+)\)`": layout.PROGRAM_END,
    }
    assert [f"{p}: doc {number(text, p, doc.name)} != {v}" for p, v in prose.items()
            if number(text, p, doc.name) != v] == []


def test_game_rules_doc_initial_state() -> None:
    doc = DOCS / "game-rules.md"
    text = doc.read_text()
    assert number(text, r"\$sp \(r29\) = (0x[0-9A-F]+)", doc.name) == layout.STACK_TOP
    assert number(text, r"`1 <= maxSteps <= (2\^\d+)`", doc.name) == layout.MAX_STEPS
