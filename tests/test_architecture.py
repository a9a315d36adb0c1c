"""docs/architecture.md's claims, checked: every room of src/ is on a floor, and no module imports from a room on a
higher floor (function-level imports included)."""

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "facenet2expnet"


def floors() -> dict:
    """room -> floor, from the fenced block under '## Rooms' in docs/architecture.md."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    block = text.split("## Rooms", 1)[1].split("```", 2)[1]
    out = {}
    for line in block.strip().splitlines():
        floor, rooms = re.match(r"\s*(\d+)\s+(.+)", line).groups()
        out.update({r.strip(): int(floor) for r in rooms.split(",")})
    return out


def room_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports(path: pathlib.Path):
    """(line, imported module) for every import of the package in one file, resolved from relative imports."""
    mod = ".".join(path.relative_to(SRC.parent).with_suffix("").parts)
    pkg = mod.rsplit(".", 1)[0] if path.name != "__init__.py" else mod.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
            for a in node.names if node.module is None else [None]:
                yield node.lineno, target + ("." + a.name if a else "")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("facenet2expnet"):
            yield node.lineno, node.module
        elif isinstance(node, ast.Import):
            yield from ((node.lineno, a.name) for a in node.names if a.name.startswith("facenet2expnet"))


def test_every_room_is_on_a_floor():
    rooms = {
        p.stem if p.is_file() else p.name
        for p in SRC.iterdir()
        if (p.suffix == ".py" or p.is_dir())
        and not p.name.startswith(("_", "."))
        or p.name in ("__init__.py", "__main__.py")
    }
    rooms = {r.replace(".py", "") for r in rooms} - {"pretrained", "__pycache__"}
    assert rooms <= set(floors()), f"rooms missing from docs/architecture.md: {sorted(rooms - set(floors()))}"


def test_no_module_imports_one_above_it():
    level = floors()
    up = []
    for path in SRC.rglob("*.py"):
        here = room_of(".".join(path.relative_to(SRC.parent).with_suffix("").parts))
        if path.name == "__init__.py" and path.parent == SRC:
            here = "__init__"
        for line, target in imports(path):
            there = room_of(target)
            if there in level and level[there] > level[here]:
                up.append(
                    f"{path.relative_to(SRC)}:{line} ({here}, floor {level[here]}) imports {target} (floor "
                    f"{level[there]})"
                )
    assert not up, "imports that point up:\n" + "\n".join(up)


def module_graph() -> dict:
    """module -> the package's modules it imports (function-level imports included; a name imported from a
    package's __init__ counts as that package)."""
    mods = {}
    for path in SRC.rglob("*.py"):
        name = ".".join(path.relative_to(SRC.parent).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = path
    graph = {}
    for name, path in mods.items():
        deps = set()
        for _, target in imports(path):
            while target and target not in mods:  # facenet2expnet.train.config.TrainConfig -> ...train.config
                target = target.rpartition(".")[0]
            if target and target != name:
                deps.add(target)
        graph[name] = deps
    return graph


def test_no_import_circle_among_the_modules():
    """A circle (a imports b, b imports a, however far round) makes import order matter and the rooms one room;
    the package has none (depth-first search for a back edge)."""
    graph, state, circles = module_graph(), {}, []

    def visit(node, path):
        state[node] = "open"
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                circles.append(" -> ".join(path[path.index(dep) :] + [dep]))
            elif dep not in state:
                visit(dep, path + [dep])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not circles, "import circles:\n" + "\n".join(circles)


def test_the_module_list_is_the_tree():
    """docs/architecture.md's "Every module" block names each module of src/facenet2expnet/, and only those: a
    move or a new module updates the map a contributor reads first."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    block = text.split("## Every module", 1)[1].split("```", 2)[1]
    listed = {line.split()[0] for line in block.strip().splitlines()}
    tree = {p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py")}
    assert listed == tree, f"not in the doc: {sorted(tree - listed)}; no longer in the tree: {sorted(listed - tree)}"
