"""Check Grafana's Flux queries against the schema the writers really produce.

``written_schema`` parses InfluxDB line protocol into measurement → tag keys/values and field
names. ``query_problems`` pulls every measurement, field, tag and column a Flux query references
(``r._measurement == "…"``, ``r._field == "…"`` / ``=~ /…/``, ``r.<tag> == "…"``, any other
``r.<column>``, ``columns: [...]`` lists, ``schema.*TagValues``) and reports each one the schema
does not have. The parser is deliberately small: it understands the constructs our dashboard
uses and refuses (reports) the ones it cannot follow, such as ``pivot``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

SYSTEM_COLUMNS = {"_time", "_value", "_start", "_stop", "_measurement", "_field"}
_STRING = r'"(?:[^"\\]|\\.)*"'
_REGEX = r"/(?:[^/\\\n]|\\.)+/"
_COLUMN = r'r(?:\.([A-Za-z_]\w*)|\[\s*"([^"]+)"\s*\])'
_COMPARISON = re.compile(rf"{_COLUMN}\s*(==|!=|=~|!~)\s*({_STRING}|{_REGEX})")
_USE = re.compile(_COLUMN)
_COLUMN_LIST = re.compile(r"\bcolumns\s*:\s*\[([^\]]*)\]")
_OUTPUT_COLUMN = re.compile(rf"\b(?:column|as)\s*:\s*({_STRING})")
_RECORD_KEYS = re.compile(r"\(\{\s*(?:r\s+with\s+)?([^{}]*)\}\)")
_BUCKET = re.compile(rf"\bbucket\s*:\s*({_STRING})")
_SCHEMA_CALL = re.compile(r"\bschema\.(\w+)\s*\(([^)]*)\)")
_UNSUPPORTED = ("pivot(", "fieldsAsCols(", "rename(", "join(", "union(", "experimental")


@dataclass
class Measurement:
    tags: dict[str, set[str]] = field(default_factory=dict)
    fields: set[str] = field(default_factory=set)


Schema = dict[str, Measurement]


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, current, escaped = [], [], False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            current.append(ch)
            escaped = True
        elif ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


_NUMERIC_FIELD = re.compile(r"^(-?\d+i|-?\d+(\.\d+)?([eE][-+]?\d+)?|true|false)$")


def parse_line(line: str) -> tuple[str, dict[str, str], dict[str, str], int]:
    """One line of line protocol → (measurement, tags, raw field values, timestamp).

    Only numeric fields are accepted (DESIGN §4): a string field raises ValueError.
    """
    head, fields_text, stamp = _split_unescaped(line, " ")
    measurement, *tag_parts = _split_unescaped(head, ",")
    tags = {}
    for part in tag_parts:
        key, value = _split_unescaped(part, "=")
        tags[_unescape(key)] = _unescape(value)
    fields = {}
    for part in _split_unescaped(fields_text, ","):
        key, value = _split_unescaped(part, "=")
        if not _NUMERIC_FIELD.match(value):
            raise ValueError(f"non-numeric field {key}={value} in {line!r}")
        fields[_unescape(key)] = value
    return _unescape(measurement), tags, fields, int(stamp)


def written_schema(lines: Iterable[str]) -> Schema:
    schema: Schema = {}
    for line in lines:
        if not line.strip():
            continue
        name, tags, fields, _ = parse_line(line)
        m = schema.setdefault(name, Measurement())
        for key, value in tags.items():
            m.tags.setdefault(key, set()).add(value)
        m.fields.update(fields)
    return schema


def _strip_comments(query: str) -> str:
    out, in_string, i = [], False, 0
    while i < len(query):
        ch = query[i]
        if in_string:
            out.append(ch)
            if ch == "\\" and i + 1 < len(query):
                out.append(query[i + 1])
                i += 1
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
            out.append(ch)
        elif query.startswith("//", i):
            while i < len(query) and query[i] != "\n":
                i += 1
            continue
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _literal(token: str) -> str:
    return _unescape(token[1:-1])


def _balance_problems(query: str) -> list[str]:
    text = re.sub(_STRING, '""', query)
    text = re.sub(rf"(=~|!~)\s*{_REGEX}", "=~ //", text)
    pairs, stack = {")": "(", "]": "[", "}": "{"}, []
    for ch in text:
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs and (not stack or stack.pop() != pairs[ch]):
            return [f"unbalanced {ch!r}"]
    if '"' in text.replace('""', ""):
        return ["unterminated string"]
    return [f"unclosed {stack[-1]!r}"] if stack else []


@dataclass
class References:
    buckets: set[str] = field(default_factory=set)
    measurements: set[str] = field(default_factory=set)
    fields: set[str] = field(default_factory=set)
    field_patterns: set[str] = field(default_factory=set)
    tag_values: dict[str, set[str]] = field(default_factory=dict)
    tag_patterns: dict[str, set[str]] = field(default_factory=dict)
    columns: set[str] = field(default_factory=set)
    defined: set[str] = field(default_factory=set)
    schema_calls: list[dict[str, str]] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)


def references(query: str) -> References:
    """Everything a Flux query reads from the database, see the module docstring."""
    text = _strip_comments(query)
    refs = References()
    refs.buckets = {_literal(b) for b in _BUCKET.findall(text)}
    refs.unsupported = [u for u in _UNSUPPORTED if u in text]
    for dotted, bracketed, _op, value in _COMPARISON.findall(text):
        name = dotted or bracketed
        is_regex = value.startswith("/")
        literal = value[1:-1] if is_regex else _literal(value)
        if name == "_measurement":
            (refs.unsupported.append("regex on _measurement") if is_regex
             else refs.measurements.add(literal))
        elif name == "_field":
            (refs.field_patterns if is_regex else refs.fields).add(literal)
        elif not name.startswith("_"):
            target = refs.tag_patterns if is_regex else refs.tag_values
            target.setdefault(name, set()).add(literal)
    for dotted, bracketed in _USE.findall(text):
        refs.columns.add(dotted or bracketed)
    for listed in _COLUMN_LIST.findall(text):
        refs.columns.update(_literal(t) for t in re.findall(_STRING, listed))
    refs.defined = {_literal(t) for t in _OUTPUT_COLUMN.findall(text)}
    for body in _RECORD_KEYS.findall(text):
        refs.defined.update(re.findall(r"(?:^|,)\s*([A-Za-z_]\w*)\s*:", body))
    for function, args in _SCHEMA_CALL.findall(text):
        call = {"function": function}
        call.update({k: _literal(v) for k, v in re.findall(rf"(\w+)\s*:\s*({_STRING})", args)})
        refs.schema_calls.append(call)
    return refs


def query_problems(query: str, schema: Schema, bucket: str) -> list[str]:
    """What ``query`` references that ``schema`` (in ``bucket``) does not hold; [] when fine."""
    refs = references(query)
    problems = _balance_problems(_strip_comments(query))
    problems += [f"construct the checker cannot follow: {u}" for u in refs.unsupported]
    problems += [f"bucket {b!r} is not {bucket!r}" for b in sorted(refs.buckets - {bucket})]
    missing = refs.measurements - set(schema)
    problems += [f"measurement {m!r} is never written" for m in sorted(missing)]
    measurements = [schema[m] for m in sorted(refs.measurements & set(schema))]
    if (refs.fields or refs.field_patterns or refs.tag_values) and not refs.measurements:
        problems.append("fields/tags are filtered without naming a measurement")
    fields = set().union(*(m.fields for m in measurements)) if measurements else set()
    tags: dict[str, set[str]] = {}
    for m in measurements:
        for key, values in m.tags.items():
            tags.setdefault(key, set()).update(values)
    for name in sorted(refs.fields - fields):
        problems.append(f"field {name!r} is not written to {sorted(refs.measurements)}")
    for pattern in sorted(refs.field_patterns):
        if not any(re.search(pattern, f) for f in fields):
            problems.append(f"field pattern /{pattern}/ matches no field of {sorted(refs.measurements)}")
    for key, values in sorted(refs.tag_values.items()):
        if key in refs.defined:
            continue
        if key not in tags:
            problems.append(f"tag {key!r} is not a tag of {sorted(refs.measurements)}")
            continue
        for value in sorted(v for v in values if "${" not in v):
            if value not in tags[key]:
                problems.append(f"tag value {key}={value!r} is never written")
    for key, patterns in sorted(refs.tag_patterns.items()):
        for pattern in sorted(patterns):
            if key not in tags or not any(re.search(pattern, v) for v in tags[key]):
                problems.append(f"tag pattern {key}=~/{pattern}/ matches nothing written")
    known_columns = SYSTEM_COLUMNS | set(tags) | refs.defined
    for column in sorted(refs.columns - known_columns):
        problems.append(f"column {column!r} is neither a tag of {sorted(refs.measurements)} nor made here")
    for call in refs.schema_calls:
        problems += _schema_call_problems(call, schema, bucket)
    return problems


def _schema_call_problems(call: dict[str, str], schema: Schema, bucket: str) -> list[str]:
    problems = []
    if call.get("bucket", bucket) != bucket:
        problems.append(f"schema.{call['function']} reads bucket {call['bucket']!r}")
    measurement, tag = call.get("measurement"), call.get("tag")
    if measurement is not None and measurement not in schema:
        problems.append(f"schema.{call['function']}: measurement {measurement!r} is never written")
    elif tag is not None:
        pool = [schema[measurement]] if measurement else list(schema.values())
        if not any(tag in m.tags for m in pool):
            problems.append(f"schema.{call['function']}: tag {tag!r} is never written")
    return problems
