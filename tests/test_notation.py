"""One symbol, one meaning: NOTATION.md's table, read here, and a detector that finds a symbol
used for a meaning the table lists under *never* — in the markdown of every lesson in shape
(tools/build.py's NOT_YET_IN_SHAPE lists the others), in course_lib's docstrings and in the
checks' messages.

The detector is built to be precise rather than exhaustive: it flags a symbol and a forbidden
meaning only when they name each other, in the same sentence with at most a few linking words
between them ("the weight decay λ", "λ, the weight decay", "$\\lambda$ (weight decay)",
"ρ is the trust-region ratio", "$L$-smooth"). A symbol is its plain form (λ, λ_i, λᵢ, H_k)
or an inline formula that starts with it ($\\lambda$, $\\lambda I$, $H_k$); a decorated symbol
(H̃, $\\tilde H$, $\\hat v$, $\\mathcal L$) is another symbol. A forbidden *symbol* in the never
column (f*'s "L*") is flagged wherever it appears.
"""

import ast
import dataclasses
import functools
import pathlib
import re

import nbformat
import pytest

import build  # tools/build.py

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTATION = ROOT / "NOTATION.md"

GREEK = {
    "α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "epsilon", "η": "eta",
    "κ": "kappa", "λ": "lambda", "μ": "mu", "ν": "nu", "ρ": "rho", "σ": "sigma", "φ": "phi",
    "ψ": "psi", "ω": "omega", "Δ": "Delta", "ℓ": "ell",
}  # fmt: skip
LATEX = {f"\\{name}": letter for letter, name in GREEK.items()} | {
    "\\varepsilon": "ε",
    "\\varphi": "φ",
    "\\varrho": "ρ",
}
# Other ways of naming a meaning than the table's own words (each a regex).
SYNONYMS = {
    "ridge penalty": [r"ridge"],
    "the loss": [r"loss(?:es)?"],
    "a Lipschitz constant": [r"Lipschitz"],
    "trust-region ratio": [r"trust[- ]region ratio", r"ratio"],
    "inverse-Hessian approximation": [r"inverse[- ]Hessian"],
    "hidden activations": [r"hidden (?:layer'?s? )?(?:activations?|outputs?|units?)"],
    "a schedule's decay factor": [r"(?:schedule'?s?|step_lr'?s?|decay) factor", r"step_lr"],
    "batch norm's scale": [r"batch[- ]norm(?:alisation|alization)?'?s? scale"],
    "momentum schedule": [r"momentum schedule", r"Nadam'?s? momentum"],
    "acceptance threshold": [r"acceptance threshold", r"threshold"],
    "second moment": [r"second[- ]moments?"],
    "finite-difference step": [r"finite[- ]difference step"],
    "learning rate": [r"learning[- ]rates?", r"step size"],
}
# Suffixes that make a symbol mean something when attached to it ("L-smooth": a Lipschitz L).
ATTACHED = {"a Lipschitz constant": [r"-smooth", r"-Lipschitz"]}
# Words that may stand between a symbol and the meaning it is given.
GLUE = (
    r"(?:[,:=()—–]|\b(?:is|are|was|be|the|a|an|as|its|their|of|for|here|now|denotes?|called"
    r"|written|approximates?|estimates?|coefficient|strength|parameter|term|value|factor"
    r"|matrix|constant|by)\b)"
)
MATH = re.compile(r"(?<![\\$])\$(?!\s)([^$]+?)(?<![\\\s])\$")
CODE = re.compile(r"`([^`]+)`")
DECORATION = re.compile(r"\\(?:tilde|widetilde|hat|widehat|bar|overline|mathcal|mathscr|check)\b")
STRIP_FRONT = re.compile(
    r"^(?:\s|\\left|\\big|\\Big|[({|]|\\\||\\[dt]?frac|\\mathbf|\\boldsymbol)+"
)
COMBINING = "\u0300-\u036f"
EMPHASIS = re.compile(r"(?<![\w*])\*{1,2}([^*\s][^*]*?)\*{1,2}(?![\w*])")


@dataclasses.dataclass
class Rule:
    symbol: str  # the table's symbol, as matched: λ (for λ_i, λ_max, λ_min), H, L, f* …
    listed: list  # the symbols of its row, as written: ["λ_i", "λ_max", "λ_min"]
    meaning: str
    never: list  # meanings the symbol never takes
    never_symbols: list  # other symbols that never take this row's meaning (f*: L*)


def read_table(text=None):
    """The rows of NOTATION.md's tables: a list of Rule."""
    rules = []
    for line in (text if text is not None else NOTATION.read_text()).split("\n"):
        if not line.startswith("|") or line.startswith("|---") or line.startswith("| symbol"):
            continue
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) != 3:
            raise ValueError(f"NOTATION.md: a row needs symbol | meaning | never: {line}")
        symbols, meaning, never = cells
        listed = [x.strip() for x in symbols.split(", ")]
        base = re.split(r"[_(]", listed[0])[0]
        entries = [e.strip() for e in re.split(r",(?![^()]*\))", never) if e.strip()]
        is_symbol = [not re.search(r"[a-z]{3}", e) for e in entries]
        rules.append(
            Rule(
                symbol=base,
                listed=listed,
                meaning=meaning,
                never=[e for e, s in zip(entries, is_symbol) if not s],
                never_symbols=[e for e, s in zip(entries, is_symbol) if s],
            )
        )
    return rules


def phrase_pattern(meaning):
    """A regex for a meaning: its words (articles dropped) joined by space, hyphen or _, a
    possessive 's optional, the last word's plural too; or one of its SYNONYMS."""
    words = re.sub(r"^(?:a|an|the)\s+", "", meaning.strip()).split()
    parts = []
    for i, w in enumerate(words):
        core = re.escape(w.removesuffix("'s"))
        core = core.replace(r"\-", r"[-\s_]") if "-" in w else core
        last = i == len(words) - 1
        parts.append(core + ("(?:'s)?" if w.endswith("'s") else "") + ("(?:s|es)?" if last else ""))
    own = r"[\s_-]+".join(parts)
    return "(?:" + "|".join([own, *SYNONYMS.get(meaning, [])]) + ")"


def first_atom(formula):
    """The symbol an inline formula starts with ("λ", "H", "L*"), or "" if decorated/none."""
    body = STRIP_FRONT.sub("", formula)
    if DECORATION.match(body):
        return ""
    m = re.match(r"(\\[A-Za-z]+|[A-Za-zα-ωΑ-Ωℓ])(?![A-Za-z])", body)
    if not m:
        return ""
    atom = LATEX.get(m.group(1), m.group(1))
    if atom.startswith("\\"):
        return ""
    rest = body[m.end() :]
    if re.match(r"\s*(?:_\{[^}]*\}|_\\?\w+)?\s*\^\s*\{?\s*(?:\*|\\star|\\ast)", rest):
        atom += "*"
    return atom


def normalise(text):
    """Text with each inline formula replaced by ⟦its first symbol⟧ and code spans by ⟦⟧."""
    text = CODE.sub(lambda m: " ⟦⟧ ", text)
    return MATH.sub(lambda m: f"⟦{first_atom(m.group(1))}⟧", text)


def symbol_pattern(symbol):
    """A symbol in normalised text: plain (λ, λ_i, λᵢ, λ_{max}) or as a formula's ⟦first⟧."""
    plain = re.escape(symbol)
    latin = symbol.isascii()
    before = r"(?<![\w\\⟦*" + COMBINING + "])" if latin else r"(?<![\\⟦])"
    after = r"(?:_\{[^}]*\}|_\w+|[ᵢⱼₖₗₘₙₜₐ₀-₉]+)?(?![\w" + COMBINING + r"*'’]|-\w)"
    return rf"(?:⟦{plain}⟧|{before}{plain}{after})"


def forbidden_symbol_pattern(symbol):
    """A forbidden symbol such as L*: plain (not bold/italic markup) or a formula L^*."""
    base = re.escape(symbol.rstrip("*"))
    return rf"(?:⟦{base}\*⟧|(?<![\w\\*]){base}\*(?!\*))"


def sentences(text):
    """Sentences (and list items, table cells, paragraphs) of a markdown text."""
    text = re.sub(r"```.*?```", " ", text, flags=re.S)
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)
    for block in re.split(r"\n\s*\n|\n\s*[-*]\s|\n\s*\d+\.\s|\|", text):
        for sentence in re.split(r"(?:(?<=[.!?;])|(?<=[.!?]\)))\s+(?=[A-Z(*$`λ-ω])", block):
            if sentence.strip():
                yield " ".join(sentence.split())


@functools.cache
def meaning_pattern(meaning):
    """The meaning alone (a quick test before the pair's), its own words or ATTACHED's."""
    return re.compile(f"(?i:{phrase_pattern(meaning)}|{'|'.join(ATTACHED.get(meaning, ['$^']))})")


@functools.cache
def pair_pattern(symbol, meaning):
    """The symbol and the meaning naming each other: next to each other, or with at most
    three GLUE words between them, in either order; or a suffix of ATTACHED on the symbol."""
    s, p = symbol_pattern(symbol), f"(?i:{phrase_pattern(meaning)})"
    glue = rf"(?:\s*{GLUE}\s*){{0,3}}\s*"
    alternatives = [rf"{s}{glue}\b{p}\b", rf"\b{p}\b{glue}{s}"]
    alternatives += [rf"{s}{a}" for a in ATTACHED.get(meaning, [])]
    return re.compile("|".join(alternatives))  # the symbol's case matters: g is not G


def misuses(text, rules=None):
    """[(symbol, meaning, sentence)] for each symbol used for one of its never meanings."""
    rules = rules if rules is not None else RULES
    found = []
    for sentence in sentences(text):
        norm = normalise(sentence)
        words = EMPHASIS.sub(r"\1", norm)  # "*inverse* Hessian" reads "inverse Hessian"
        # A code span is read on its own too: `MLP(weight_decay=λ)` names λ weight decay.
        words = " ⟦⟧ ".join([words, *CODE.findall(sentence)])
        for rule in rules:
            for meaning in rule.never:
                if meaning_pattern(meaning).search(words) and pair_pattern(
                    rule.symbol, meaning
                ).search(words):
                    found.append((rule.symbol, meaning, sentence))
            for other in rule.never_symbols:
                if re.search(forbidden_symbol_pattern(other), norm):
                    found.append((other, rule.meaning, sentence))
    return found


RULES = read_table()


# --- the table ---------------------------------------------------------------------------


def test_the_table_gives_each_symbol_one_row_and_its_never_meanings():
    listed = [x for r in RULES for x in r.listed]
    assert len(RULES) >= 50
    assert len(set(listed)) == len(listed), [s for s in listed if listed.count(s) > 1]
    with_never = [r.symbol for r in RULES if r.never or r.never_symbols]
    assert len(set(with_never)) == len(with_never), with_never
    by = {r.symbol: r for r in RULES}
    assert by["λ"].never == ["weight decay", "damping", "ridge penalty"]
    assert by["L"].never == ["the loss", "a Lipschitz constant"]
    assert by["f*"].never_symbols == ["L*"] and by["f*"].never == []
    assert by["v"].never == ["second moment"]


# --- the detector --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sentence, symbol, meaning",
    [
        ("The weight decay λ shrinks every weight.", "λ", "weight decay"),
        ("Here $\\lambda$ is the weight decay coefficient.", "λ", "weight decay"),
        ("Adam with weight_decay=λ adds λx to the gradient.", "λ", "weight decay"),
        ("`MLP(..., weight_decay=λ)` adds a penalty.", "λ", "weight decay"),
        ("Add the damping $\\lambda I$ to the curvature.", "λ", "damping"),
        (
            "Ridge regression with penalty λ: λ, the ridge penalty, sets the bias.",
            "λ",
            "ridge penalty",
        ),
        ("The loss $L(w)$ is an average over examples.", "L", "the loss"),
        ("For an $L$-smooth function the step is safe.", "L", "a Lipschitz constant"),
        ("The ratio ρ of actual to predicted decrease decides.", "ρ", "trust-region ratio"),
        ("ρ is the contraction factor of GD.", "ρ", "contraction factor"),
        ("Stack the hidden activations H of the batch.", "H", "hidden activations"),
        ("$H_k$ approximates the inverse Hessian.", "H", "inverse-Hessian approximation"),
        ("Adam divides by √v, the second moment.", "v", "second moment"),
        ("The minimum L* is reached.", "L*", "the minimum value f(x*)"),
        ("It approaches $L^*$ from above.", "L*", "the minimum value f(x*)"),
        ("The scale γ of batch norm, batch norm's scale γ, is learned.", "γ", "batch norm's scale"),
        ("η, the acceptance threshold, is 0.1.", "η", "acceptance threshold"),
        ("With learning rate α the step is short.", "α", "learning rate"),
        ("An approximation $H_k$ of the *inverse* Hessian.", "H", "inverse-Hessian approximation"),
        ("Adam's **second moment** $v_t$ grows.", "v", "second moment"),
    ],
)
def test_the_detector_catches_a_symbol_used_for_a_never_meaning(sentence, symbol, meaning):
    found = misuses(sentence)
    assert (symbol, meaning) in [(s, m) for s, m, _ in found], found
    assert all(sentence in " ".join(sentence.split()) for *_, sentence in found)


@pytest.mark.parametrize(
    "sentence",
    [
        "The eigenvalues λ_i of H set the rate; weight decay ω shifts each of them by ω.",
        "With weight decay, the largest eigenvalue $\\lambda_{\\max} + \\omega$ grows.",
        "Damping ν is added to $\\tilde H$, whose eigenvalues are $\\lambda_i + \\nu$.",
        "The loss f falls; with depth L = 6 the network trains.",
        "An L2 penalty and L-BFGS are not the depth L; f is the loss.",
        "An $L$-layer network has weights $W_1, …, W_L$ and activations $a_l$.",
        "Adam's second moment s, not v, is the average of g²; momentum's velocity v differs.",
        "The Hessian H and its approximation H̃ (a model) differ; $\\tilde H$ is cheap.",
        "**L** is the depth and *f* the loss: L**2** aside.",
        "ρ decays the squared-gradient average; the contraction factor q is below one.",
        "The trust-region ratio r compares the decreases; ρ is RMSprop's decay.",
        "RMSprop's `alpha` is ρ, the decay; the learning rate η is tuned.",
        "The hidden activations a_l feed the next layer; H is the Hessian.",
        "The ridge penalty ω and the damping ν are not eigenvalues λ.",
    ],
)
def test_the_detector_lets_the_course_notation_pass(sentence):
    assert misuses(sentence) == []


# --- the course ------------------------------------------------------------------------------


def markdown_problems(path):
    out = []
    for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type == "markdown":
            for symbol, meaning, sentence in misuses(cell.source):
                out.append(
                    f"{path.relative_to(ROOT)} cell {i}: '{symbol}' used for '{meaning}' "
                    f"(NOTATION.md: never): {sentence[:160]}"
                )
    return out


LESSONS = build.existing_lessons()


@pytest.mark.parametrize("lesson", LESSONS, ids=[x["file"] for x in LESSONS])
def test_a_lesson_in_shape_follows_the_notation(lesson):
    if not build.in_shape(lesson):
        pytest.skip(f"{lesson['file']} is in NOT_YET_IN_SHAPE (tools/build.py)")
    problems = markdown_problems(ROOT / "solutions" / lesson["file"])
    assert not problems, "\n".join(problems)


def course_lib_texts():
    """(file, line, text) of every docstring of course_lib and every string of its checks."""
    out = []
    for path in sorted((ROOT / "course_lib").rglob("*.py")):
        tree = ast.parse(path.read_text())
        rel = str(path.relative_to(ROOT))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    line = node.body[0].lineno if node.body else 1
                    out.append((rel, line, doc))
            elif (
                "checks" in path.relative_to(ROOT).parts  # not the checkout's own folder
                and isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and len(node.value) > 12
            ):
                out.append((rel, node.lineno, node.value))
    return out


# course_lib files whose docstrings or check messages still use a symbol for a never meaning
# (each listed below by the test): bring one in line, then remove it from this set.
COURSE_LIB_NOT_YET: set[str] = set()


def course_lib_problems():
    problems = {}
    for rel, line, text in course_lib_texts():
        for symbol, meaning, sentence in misuses(text):
            problems.setdefault(rel, []).append(
                f"{rel}:{line}: '{symbol}' used for '{meaning}' (NOTATION.md: never): "
                f"{sentence[:160]}"
            )
    return problems


def test_course_lib_docstrings_and_check_messages_follow_the_notation():
    problems = course_lib_problems()
    wrong = [p for rel, found in problems.items() if rel not in COURSE_LIB_NOT_YET for p in found]
    assert not wrong, "\n".join(wrong)
    stale = COURSE_LIB_NOT_YET - set(problems)
    assert not stale, (
        f"in line with NOTATION.md now: remove {sorted(stale)} from COURSE_LIB_NOT_YET"
    )
