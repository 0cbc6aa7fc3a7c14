# ktap.py — a streaming parser for KTAP version 1 (Documentation/dev-tools/ktap.rst
# of the Linux kernel: version, plan, result and diagnostic lines, nested subtests
# indented by four spaces with "# Subtest:" headers). Lines are fed as they arrive;
# malformed input is recorded as an error, never raised, and results that a plan
# promised but the stream never delivered are reported as CRASHED.
from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Optional

INDENT = 4  # KTAP: each nesting level is indented by four spaces


class Status(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"
    CRASHED = "crashed"
    NO_TESTS = "no tests"


@dataclass
class KtapTest:
    """One test: a leaf case, or a subtest (suite) with children of its own."""
    name: str
    number: Optional[int] = None          # position in the parent's list (None: root)
    status: Status = Status.NO_TESTS
    reported: Optional[Status] = None     # what the result line said; None if it never came
    todo: bool = False                    # "# TODO": a failure here is expected, not counted
    directive: str = ""                   # SKIP / TODO / XFAIL / other word, upper case
    reason: str = ""                      # text after the directive
    diagnostics: list[str] = field(default_factory=list)  # "# ..." lines, without "# "
    log: list[str] = field(default_factory=list)          # every line attributed to it
    children: list["KtapTest"] = field(default_factory=list)
    plan: Optional[int] = None
    is_subtest: bool = False              # had a body (header, plan or nested results)
    line: int = 0                         # line number of its result line (0: none)

    @property
    def failed(self) -> bool:
        return self.status is Status.CRASHED or (self.status is Status.FAIL and not self.todo)

    def walk(self, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], "KtapTest"]]:
        """Pre-order walk over the descendants, yielding (path, test)."""
        for child in self.children:
            p = path + (child.name,)
            yield p, child
            yield from child.walk(p)


@dataclass
class KtapError:
    line: int      # 1-based line number in the stream (0: at end of stream)
    message: str
    text: str = ""  # the offending line, if any

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "end of stream"
        return f"{where}: {self.message}" + (f": {self.text!r}" if self.text else "")


@dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    crashed: int = 0
    todo: int = 0

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.skipped + self.crashed + self.todo

    def add(self, t: KtapTest) -> None:
        if t.status is Status.CRASHED:
            self.crashed += 1
        elif t.todo and t.status is Status.FAIL:
            self.todo += 1
        elif t.status is Status.FAIL:
            self.failed += 1
        elif t.status is Status.SKIP:
            self.skipped += 1
        elif t.status is Status.PASS:
            self.passed += 1

    def __str__(self) -> str:
        s = (f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped, "
             f"{self.crashed} crashed")
        return s + (f", {self.todo} todo" if self.todo else "")


@dataclass
class KtapResult:
    root: KtapTest
    errors: list[KtapError] = field(default_factory=list)
    version: Optional[str] = None   # e.g. "KTAP version 1", None if no header was seen
    lines: int = 0

    @property
    def status(self) -> Status:
        return self.root.status

    @property
    def passed(self) -> bool:
        """True when at least one test ran and none failed or crashed."""
        return self.root.status in (Status.PASS, Status.SKIP)

    def counts(self) -> Counts:
        """Counts over test cases (leaves); a crashed subtest whose missing
        results cannot be attributed to a case counts as one crashed case."""
        c = Counts()
        for _, t in self.root.walk():
            if not t.children:
                if t.status is not Status.NO_TESTS:
                    c.add(t)
            elif t.status is Status.CRASHED and not any(
                    d.status is Status.CRASHED for _, d in t.walk()):
                c.crashed += 1
        return c

    def suite_counts(self) -> Counts:
        """Counts over the top-level tests (the suites)."""
        c = Counts()
        for t in self.root.children:
            c.add(t)
        return c

    def failures(self) -> list[tuple[str, KtapTest]]:
        """The deepest failed or crashed tests, as (dotted path, test): a failed
        suite is listed only when none of its own children explains the failure."""
        out: list[tuple[str, KtapTest]] = []

        def visit(t: KtapTest, path: tuple[str, ...]) -> None:
            bad_children = [c for c in t.children if c.failed]
            for c in bad_children:
                visit(c, path + (c.name,))
            if t.failed and not bad_children and path:
                out.append((".".join(path), t))
        visit(self.root, ())
        return out

    def find(self, dotted: str) -> Optional[KtapTest]:
        for path, t in self.root.walk():
            if ".".join(path) == dotted:
                return t
        return None


# ---- line classification -------------------------------------------------------

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[()][0-9A-Za-z]|[@-~])")
_CTRL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_VERSION = re.compile(r"^(?:KTAP|TAP) version (\d+)$")
_PLAN = re.compile(r"^1\.\.(\d+)(?:\s*#.*)?$")
_SUBTEST = re.compile(r"^#\s*Subtest:\s*(.*?)\s*$")
_RESULT = re.compile(r"^(ok|not ok)(?=\s|$)(.*)$")
_RESULT_REST = re.compile(r"^\s+(\d+)(?:\s+(?:-\s+)?(.*))?$")
_DIAG = re.compile(r"^#(?: (.*)|)$")
_DIRECTIVE = re.compile(r"^\s*(SKIP|TODO|XFAIL)\b[:\s]*(.*?)\s*$", re.IGNORECASE)
_UNESCAPED_HASH = re.compile(r"(?<!\\)#")


def clean_line(raw: str) -> str:
    """Console noise removal: line ends, a carriage return inside the line (the
    terminal shows what follows it), ANSI escapes and other control bytes."""
    line = raw.rstrip("\r\n")
    if "\r" in line:
        parts = [p for p in line.split("\r") if p.strip()]
        line = parts[-1] if parts else ""
    line = _ANSI.sub("", line)
    line = _CTRL.sub("", line.replace("\t", "    "))
    return line.rstrip()


def _split_result(rest: str) -> tuple[str, str]:
    """Split 'name # directive' at the first unescaped '#'."""
    m = _UNESCAPED_HASH.search(rest)
    if not m:
        return rest.strip(), ""
    return rest[:m.start()].strip(), rest[m.end():].strip()


def _unescape(name: str) -> str:
    return name.replace("\\#", "#").replace("\\\\", "\\")


def escape_name(name: str) -> str:
    return name.replace("\\", "\\\\").replace("#", "\\#")


# ---- the parser ------------------------------------------------------------------

@dataclass
class _Frame:
    depth: int
    node: KtapTest
    header: Optional[str] = None      # "# Subtest:" name
    version_seen: bool = False
    pending_log: list[str] = field(default_factory=list)
    pending_diag: list[str] = field(default_factory=list)

    def started(self) -> bool:
        return self.version_seen or self.node.plan is not None or bool(self.node.children)


ResultCallback = Callable[[tuple[str, ...], KtapTest], None]


class KtapParser:
    """Feed console lines one at a time with feed(); call finish() at end of stream.
    Lines that are not KTAP (kernel log lines, firmware noise) are kept in the log
    of the test they precede and otherwise ignored."""

    def __init__(self, on_result: Optional[ResultCallback] = None):
        self._callback = on_result
        self.root = KtapTest(name="", is_subtest=True)
        self.errors: list[KtapError] = []
        self.version: Optional[str] = None
        self.lineno = 0
        self._stack: list[_Frame] = [_Frame(0, self.root)]
        self._result: Optional[KtapResult] = None

    # -- public --

    def feed(self, raw: str) -> None:
        if self._result is not None:
            self._error("line fed after finish()", raw)
            return
        self.lineno += 1
        line = clean_line(raw)
        body = line.lstrip(" ")
        indent = len(line) - len(body)
        if not body:
            return
        kind, m = self._classify(body)
        if kind == "unknown":
            self._top.pending_log.append(line)
            return
        if indent % INDENT:
            if kind in ("version", "plan", "result", "subtest"):
                self._error(f"indentation of {indent} spaces is not a multiple of {INDENT}", line)
        depth = indent // INDENT
        getattr(self, "_on_" + kind)(depth, line, m)

    def feed_lines(self, lines: Iterable[str]) -> "KtapParser":
        for ln in lines:
            self.feed(ln)
        return self

    def finish(self) -> KtapResult:
        if self._result is not None:
            return self._result
        while len(self._stack) > 1:
            self._close_unterminated(end_of_stream=True)
        top = self._stack[0]
        if not self._fill_missing(top, self.root, at_end=True):
            self.root.diagnostics.extend(top.pending_diag)
        self.root.log.extend(top.pending_log)
        self.root.plan = top.node.plan
        self.root.status = _aggregate(self.root.children)
        self._result = KtapResult(self.root, self.errors, self.version, self.lineno)
        return self._result

    @property
    def depth(self) -> int:
        return self._top.depth

    # -- helpers --

    @property
    def _top(self) -> _Frame:
        return self._stack[-1]

    def _error(self, message: str, text: str = "", line: Optional[int] = None) -> None:
        self.errors.append(KtapError(self.lineno if line is None else line, message, text))

    @staticmethod
    def _classify(body: str):
        for kind, rx in (("version", _VERSION), ("plan", _PLAN), ("subtest", _SUBTEST),
                         ("result", _RESULT), ("diag", _DIAG)):
            m = rx.match(body)
            if m:
                return kind, m
        if body.startswith("Bail out!"):
            return "bailout", None
        return "unknown", None

    def _path(self) -> tuple[str, ...]:
        return tuple(f.node.name or f.header or "" for f in self._stack[1:])

    def _push_to(self, depth: int, line: str) -> None:
        """Open implicit subtest frames until the top is at `depth`."""
        if depth > self._top.depth + 1:
            self._error(f"nesting jumps from level {self._top.depth} to {depth}", line)
        while self._top.depth < depth:
            node = KtapTest(name="", is_subtest=True)
            self._stack.append(_Frame(self._top.depth + 1, node))

    def _pop_to(self, depth: int) -> None:
        """Close frames deeper than `depth`: they ended without a result line."""
        while self._top.depth > depth:
            self._close_unterminated(end_of_stream=False)

    def _add_case(self, frame: _Frame, t: KtapTest) -> None:
        expected = len(frame.node.children) + 1
        if t.number != expected:
            self._error(f"expected test number {expected}, got {t.number}", line=t.line)
        frame.node.children.append(t)
        if self._callback:
            self._callback(self._path() + (t.name,), t)

    def _fill_missing(self, frame: _Frame, node: KtapTest, at_end: bool = False) -> bool:
        """Add CRASHED cases for results the plan promised; True if any were added."""
        have = len(node.children)
        line = 0 if at_end else None
        if node.plan is not None and have > node.plan:
            self._error(f"{_label(node)} planned {node.plan} results but {have} arrived", line=line)
        if node.plan is None or have >= node.plan:
            return False
        self._error(f"{_label(node)} planned {node.plan} results but only {have} arrived; "
                    f"the rest are counted as crashed", line=line)
        for i in range(have + 1, node.plan + 1):
            missing = KtapTest(name=f"<missing result {i}>", number=i, status=Status.CRASHED)
            if i == have + 1:   # what the console said after the last result
                missing.log = list(frame.pending_log)
                missing.diagnostics = list(frame.pending_diag)
            node.children.append(missing)
        return True

    def _close_unterminated(self, end_of_stream: bool) -> None:
        frame = self._stack.pop()
        node = frame.node
        node.name = node.name or frame.header or "<unnamed subtest>"
        where = "stream ended inside" if end_of_stream else "no result line for"
        self._error(f"{where} subtest '{node.name}'", line=0 if end_of_stream else None)
        if not self._fill_missing(frame, node, at_end=end_of_stream):
            node.diagnostics.extend(frame.pending_diag)
        node.log.extend(frame.pending_log)
        node.status = Status.CRASHED
        node.is_subtest = True
        parent = self._top
        node.number = len(parent.node.children) + 1
        parent.node.children.append(node)
        if self._callback:
            self._callback(self._path() + (node.name,), node)

    # -- line handlers --

    def _on_bailout(self, depth: int, line: str, m) -> None:
        self._error("'Bail out!' line", line)
        self._top.pending_log.append(line)

    def _on_version(self, depth: int, line: str, m) -> None:
        if depth > self._top.depth:
            self._push_to(depth, line)
        else:
            self._pop_to(depth)
            if depth == 0:
                if self.version is not None or self.root.children or self._top.node.plan is not None:
                    self._error("second KTAP version line at top level, ignored", line)
                    return
            elif self._top.started():
                self._close_unterminated(end_of_stream=False)
                self._push_to(depth, line)
        self._top.version_seen = True
        if depth == 0:
            self.version = line.strip()
        if m.group(1) not in ("1", "13", "14"):
            self._error(f"unsupported version {m.group(1)}", line)

    def _on_subtest(self, depth: int, line: str, m) -> None:
        if depth == 0:   # a header names a subtest, so it is indented; at top level it is a comment
            self._on_diag(depth, line, _DIAG.match(line.strip()))
            return
        if depth > self._top.depth:
            self._push_to(depth, line)
        else:
            self._pop_to(depth)
            f = self._top
            if f.header is not None or f.node.plan is not None or f.node.children:
                self._close_unterminated(end_of_stream=False)
                self._push_to(depth, line)
        self._top.header = m.group(1)

    def _on_plan(self, depth: int, line: str, m) -> None:
        if depth > self._top.depth:
            self._push_to(depth, line)
        else:
            self._pop_to(depth)
        node = self._top.node
        if node.plan is not None:
            self._error(f"second plan in {_label(node)}, ignored", line)
            return
        node.plan = int(m.group(1))

    def _on_diag(self, depth: int, line: str, m) -> None:
        text = m.group(1) or ""
        # A diagnostic belongs to the next result at its own level (or the
        # innermost open one when it is indented deeper than anything open).
        idx = min(depth, self._top.depth)
        frame = self._stack[idx]
        frame.pending_diag.append(text)
        frame.pending_log.append(line)

    def _on_result(self, depth: int, line: str, m) -> None:
        rm = _RESULT_REST.match(m.group(2))
        if not rm:
            self._error("result line without a test number", line)
            self._top.pending_log.append(line)
            return
        name, directive = _split_result(rm.group(2) or "")
        t = KtapTest(name=_unescape(name), number=int(rm.group(1)), line=self.lineno)
        t.reported = Status.PASS if m.group(1) == "ok" else Status.FAIL
        if directive:
            dm = _DIRECTIVE.match(directive)
            if dm:
                t.directive, t.reason = dm.group(1).upper(), dm.group(2)
                if t.directive == "SKIP":
                    t.reported = Status.SKIP
                elif t.directive == "TODO":
                    t.todo = True
            else:
                t.diagnostics.append(directive)
        t.status = t.reported
        if depth > self._top.depth:
            self._push_to(depth, line)
        elif depth < self._top.depth:
            self._pop_to(depth + 1)
            self._close_subtest(t, line)
            return
        f = self._top
        t.log, t.diagnostics = f.pending_log + [line], f.pending_diag + t.diagnostics
        f.pending_log, f.pending_diag = [], []
        self._add_case(f, t)

    def _close_subtest(self, t: KtapTest, line: str) -> None:
        """The result line `t` at level d ends the open subtest at level d + 1."""
        frame = self._stack.pop()
        parent = self._top
        node = frame.node
        if frame.header and t.name and frame.header != t.name:
            self._error(f"result name '{t.name}' differs from subtest header '{frame.header}'", line)
        self._fill_missing(frame, node)
        node.name = t.name or frame.header or "<unnamed subtest>"
        node.number, node.reported, node.line = t.number, t.reported, t.line
        node.todo, node.directive, node.reason = t.todo, t.directive, t.reason
        node.log = frame.pending_log + parent.pending_log + [line]
        node.diagnostics = frame.pending_diag + parent.pending_diag + t.diagnostics
        parent.pending_log, parent.pending_diag = [], []
        node.is_subtest = True
        node.status = self._subtest_status(node, line)
        self._add_case(parent, node)

    def _subtest_status(self, node: KtapTest, line: str) -> Status:
        derived = _aggregate(node.children)
        if derived is Status.CRASHED:
            return Status.CRASHED
        if derived is Status.FAIL:
            if node.reported is not Status.FAIL and not node.todo:
                self._error(f"subtest '{node.name}' reported {node.reported.value} "
                            f"but a case in it failed", line)
            return Status.FAIL
        if node.reported is Status.PASS and not node.children:
            return Status.NO_TESTS
        return node.reported


def _label(node: KtapTest) -> str:
    return f"subtest '{node.name}'" if node.name else "the top level"


def _aggregate(children: list[KtapTest]) -> Status:
    if any(c.status is Status.CRASHED for c in children):
        return Status.CRASHED
    if any(c.status is Status.FAIL and not c.todo for c in children):
        return Status.FAIL
    if any(c.status is Status.PASS or (c.status is Status.FAIL and c.todo) for c in children):
        return Status.PASS
    if any(c.status is Status.SKIP for c in children):
        return Status.SKIP
    return Status.NO_TESTS


def format_tree(result: KtapResult) -> str:
    """A compact, stable text form of a parse result (golden files, debugging)."""
    out = [f"status: {result.status.value}",
           f"suites: {result.suite_counts()}",
           f"cases: {result.counts()}"]
    out += [f"error: {e}" for e in result.errors]

    def walk(t: KtapTest, depth: int) -> None:
        for c in t.children:
            extra = f" {c.directive}" if c.directive else ""
            extra += f" ({c.reason})" if c.reason else ""
            out.append("  " * depth + f"{c.number} {c.name}: {c.status.value}{extra}")
            out.extend("  " * depth + "  # " + d for d in c.diagnostics)
            walk(c, depth + 1)
    walk(result.root, 0)
    return "\n".join(out) + "\n"


def parse(lines: Iterable[str]) -> KtapResult:
    """Parse a whole stream (a list of lines or an open file)."""
    return KtapParser().feed_lines(lines).finish()


def parse_text(text: str) -> KtapResult:
    return parse(text.splitlines())


# ---- rendering (for tests and synthetic streams) ------------------------------------

def render(root: KtapTest) -> list[str]:
    """KTAP v1 lines for a result tree: the inverse of parse() for trees without
    CRASHED tests (a crash is the absence of lines and cannot be written)."""
    out = ["KTAP version 1", f"1..{len(root.children)}"]
    _render_children(root, 0, out)
    return out


def _render_children(node: KtapTest, depth: int, out: list[str]) -> None:
    pad = " " * (INDENT * depth)
    for i, c in enumerate(node.children, 1):
        if c.is_subtest:
            sub = " " * (INDENT * (depth + 1))
            out += [sub + "KTAP version 1", sub + f"# Subtest: {c.name}", sub + f"1..{len(c.children)}"]
            _render_children(c, depth + 1, out)
        out += [pad + ("# " + d if d else "#") for d in c.diagnostics]
        word = "not ok" if c.status is Status.FAIL else "ok"
        line = f"{pad}{word} {i} {escape_name(c.name)}"
        if c.status is Status.SKIP:
            line += " # SKIP" + (f" {c.reason}" if c.reason else "")
        elif c.todo:
            line += " # TODO" + (f" {c.reason}" if c.reason else "")
        out.append(line)
