"""Sections of docs/benchmarks.md that other harnesses than `make bench` write.

`make soak` (soak.py) and `make bench-overload` (overload.py) each own one section, between
an opening and a closing HTML comment. They replace their own section and leave the rest of
the file alone; run.py, which rewrites the whole file, carries every such section over into
its new text (before the hand-written analysis). So each benchmark can be run again alone.
"""

import re
from pathlib import Path

BEGIN = "<!-- section {name}: written by {by}; `make bench` keeps it -->"
END = "<!-- end of section {name} -->"
ANALYSIS = "## Analysis (written by hand"
_BLOCK = re.compile(r"<!-- section (?P<name>[\w-]+):.*?-->\n.*?<!-- end of section (?P=name) -->\n",
                    re.S)


def block(name, by, text):
    """`text` wrapped in the markers of section `name`."""
    return f"{BEGIN.format(name=name, by=by)}\n{text.rstrip()}\n{END.format(name=name)}\n"


def _insert(doc, blk):
    """`blk` placed before the hand-written analysis (or at the end when there is none)."""
    at = doc.find(ANALYSIS)
    if at < 0:
        return doc.rstrip("\n") + "\n\n" + blk
    return doc[:at] + blk + "\n" + doc[at:]


def replace(path, name, by, text):
    """Writes `text` as section `name` of the file at `path`, in place of its old text."""
    path = Path(path)
    doc = path.read_text() if path.exists() else "# Benchmarks\n"
    new = block(name, by, text)
    pattern = re.compile(
        re.escape(f"<!-- section {name}:") + r".*?-->\n.*?" + re.escape(END.format(name=name))
        + r"\n", re.S)
    if pattern.search(doc):
        doc = pattern.sub(lambda _: new, doc, count=1)
    else:
        doc = _insert(doc, new)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc)


def keep(path, text):
    """`text` (a new whole report) with the sections of the file at `path` carried over."""
    path = Path(path)
    if not path.exists():
        return text
    for m in _BLOCK.finditer(path.read_text()):
        if m.group("name") not in {n.group("name") for n in _BLOCK.finditer(text)}:
            text = _insert(text, m.group(0))
    return text


if __name__ == "__main__":
    # `sections.py DOC NAME BY FILE`: FILE's text as section NAME of DOC — unless the harness
    # that wrote FILE skipped (its text starts with `skipped:`), when DOC stays as it is.
    import sys

    doc_path, section, writer, source = sys.argv[1:5]
    text = Path(source).read_text()
    if text.startswith("skipped:") or not text.strip():
        print(text.strip() or "nothing measured", file=sys.stderr)
        sys.exit(0)
    replace(doc_path, section, writer, text)
    print(text)
