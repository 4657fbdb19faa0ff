"""The cells of a lesson that its live cells need: what the browser test runs.

A live cell (tagged ``live``: an explorer, a race) shows something only a browser
renders and drives. Every cell of every lesson already runs, in order, in the main
environment under nbval and in the Colab-like one; the browser runs the live cells and
the cells they need, in lesson order, and checks what only it can see.

What a cell needs, from its syntax (``release._names`` and its scope rules):
- a name it reads as it runs (outside its functions), unless it assigns the name itself:
  the last cell above it that assigns the name, and every cell in between that changes
  it (``d[k] = …``, ``runs.append(…)``);
- a name its functions read (a callback reads it when a slider moves, after the cells
  below have run: lesson 08's explorer once drew into a ``fig`` that a later cell
  rebound): the same above it, and the same again from the end of the lesson.
A cell that does not parse (an IPython magic: the set-up cell) is kept.
"""

import ast
import copy

import nbformat

import release  # tools/release.py (pytest's pythonpath includes tools/)

LIVE = "live"  # the tag of a live cell
OPENS = ("slide", "subslide")  # the stamped slide types that open a (sub-)slide


def is_live(cell):
    return cell.cell_type == "code" and LIVE in cell.get("metadata", {}).get("tags", [])


def _uses(source):
    """(names read as the cell runs and not assigned by it, names its functions read,
    names it assigns, names it binds or changes), or None if it does not parse."""
    names = release._names(source)
    if names is None:
        return None
    bound, _ = names
    tree = ast.parse(source)
    assigned, now, later = set(), set(), set()
    for node in release._walk(tree.body):
        if isinstance(node, ast.Name):
            (now if isinstance(node.ctx, ast.Load) else assigned).add(node.id)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            now.add(node.target.id)  # x += 1 reads x first
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            later |= release._free(node)
            if not isinstance(node, ast.Lambda):
                assigned.add(node.name)
        elif isinstance(node, release.SCOPES):  # a comprehension runs at once
            now |= release._free(node)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            assigned |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return now - assigned, later, assigned, bound


def needed(cells):
    """Indices, in order, of the code cells the live ones need (themselves included)."""
    code = [i for i, c in enumerate(cells) if c.cell_type == "code"]
    uses = {i: _uses(cells[i].source) for i in code}
    parsed = [i for i in code if uses[i] is not None]

    def providers(name, before):
        """The last cell before ``before`` that assigns ``name``, and the cells after it
        that change it."""
        found = []
        for i in reversed([i for i in parsed if i < before]):
            if name in uses[i][3]:
                found.append(i)
                if name in uses[i][2]:
                    break
        return found

    keep = {i for i in code if uses[i] is None or is_live(cells[i])}
    todo = [i for i in keep if uses[i] is not None]
    end = len(cells)
    while todo:
        i = todo.pop()
        now, later = uses[i][:2]
        wanted = [p for name in now | later for p in providers(name, i)]
        wanted += [p for name in later for p in providers(name, end)]
        for p in wanted:
            if p not in keep:
                keep.add(p)
                todo.append(p)
    return sorted(keep)


def rebound_later(cells):
    """(live cell, later cell, names) for each cell below a live one that rebinds a name
    the live cell's callbacks read: after Run all, a slider would draw with the new one."""
    code = [i for i, c in enumerate(cells) if c.cell_type == "code"]
    uses = {i: _uses(cells[i].source) for i in code}
    found = []
    for live in (i for i in code if is_live(cells[i])):
        above = [i for i in needed(cells) if i <= live and uses[i] is not None]
        read = set().union(*(uses[i][1] for i in above))
        for i in code:
            if i > live and uses[i] is not None and uses[i][2] & read:
                found.append((live, i, sorted(uses[i][2] & read)))
    return found


def live_lesson(nb, slides=False):
    """The lesson with only what its live cells need; None if it has no live cell. Its
    markdown cells are dropped (what they render is not what the browser test checks),
    except, with ``slides``, those that open a slide or a sub-slide (the title, the
    section headings, the Summary), with their stamped metadata: a slideshow."""
    if not any(is_live(c) for c in nb.cells):
        return None
    keep = set(needed(nb.cells))
    nb = nbformat.from_dict(copy.deepcopy(nb))
    nb.cells = [c for i, c in enumerate(nb.cells) if i in keep or (slides and opens_a_slide(c))]
    return nb


def opens_a_slide(cell):
    """Whether a markdown cell opens a slide or a sub-slide (tools/build.py stamps it)."""
    slide_type = cell.get("metadata", {}).get("slideshow", {}).get("slide_type")
    return cell.cell_type == "markdown" and slide_type in OPENS
