#!/usr/bin/env python3
"""tools/list as clients see it, for every backend and profile: every inputSchema converts to
OpenAI's strict mode, every schema passes the portability rules Inspector 2.x checks with
--strict, and the listing stays within its byte budget. TAP output.

The strict-mode rules are written from OpenAI's documentation of strict function schemas
(Structured Outputs, "Supported schemas"): the root is an object, not anyOf; every object
sets additionalProperties false; every property is listed in required (optional ones are
written as a union with null); only the documented keywords appear; at most 10 levels of
nesting and 5000 properties. ensure_strict() below does what the OpenAI Agents SDK's
conversion (strict_schema.py) does to an MCP tool's inputSchema: close objects that say
nothing, list every property as required, recurse into properties, items, anyOf, allOf,
$defs and oneOf (as anyOf), and give up (the SDK then falls back to a non-strict tool)
when an object allows additional properties. A tool passes when the conversion succeeds,
the result obeys the rules, and every property that was optional accepts null, so a model
in strict mode can still leave it out.
"""
import copy
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from mcpclient import BIN, Tap  # noqa: E402

t = Tap()
KIB = 1024
# Budgets (bytes of the tools/list response line, protocol 2025-11-25, with titles, output
# schemas and annotations): 20 KiB for the 24 tools of local and e2b, 10 KiB for `core` on
# every backend; OpenSandbox lists 27 (run_code and code contexts) in 22 KiB.
BUDGET_ALL = {"local": 20 * KIB, "e2b": 20 * KIB, "opensandbox": 22 * KIB}
BUDGET_CORE = 10 * KIB
SUPPORTED = {  # keywords OpenAI documents for strict schemas, per where they appear
    "any": {"type", "description", "anyOf", "enum", "const", "title", "$defs", "$ref"},
    "string": {"pattern", "format"},
    "number": {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"},
    "integer": {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"},
    "array": {"items", "minItems", "maxItems"},
    "object": {"properties", "required", "additionalProperties"},
    "boolean": set(), "null": set(),
}


class NotStrict(Exception):
    pass


def ensure_strict(s):
    """The Agents SDK's conversion of a schema (see the module comment)."""
    if not isinstance(s, dict):
        raise NotStrict("not a schema object: %r" % (s,))
    for key in ("$defs", "definitions"):
        for sub in (s.get(key) or {}).values():
            ensure_strict(sub)
    if s.get("type") == "object":
        if "additionalProperties" not in s:
            s["additionalProperties"] = False
        elif s["additionalProperties"]:
            raise NotStrict("an object allows additional properties")
    if isinstance(s.get("properties"), dict):
        s["required"] = list(s["properties"])
        for sub in s["properties"].values():
            ensure_strict(sub)
    if isinstance(s.get("items"), dict):
        ensure_strict(s["items"])
    for sub in s.get("anyOf") or []:
        ensure_strict(sub)
    if isinstance(s.get("oneOf"), list):
        s["anyOf"] = (s.get("anyOf") or []) + [ensure_strict(x) for x in s.pop("oneOf")]
    for sub in s.get("allOf") or []:
        ensure_strict(sub)
    return s


def strict_problems(s, path, depth, count):
    """OpenAI's documented rules, on a converted schema; returns a list of problems."""
    out = []
    if depth > 10:
        return [path + ": nested deeper than 10 levels"]
    if "anyOf" in s:
        for i, b in enumerate(s["anyOf"]):
            out += strict_problems(b, "%s.anyOf[%d]" % (path, i), depth, count)
        extra = set(s) - {"anyOf", "description", "title"}
        return out + ([path + ": keywords beside anyOf: %s" % sorted(extra)] if extra else [])
    typ = s.get("type")
    if not isinstance(typ, str) or typ not in SUPPORTED:
        return [path + ": untyped or unsupported type %r" % (typ,)]
    bad = set(s) - SUPPORTED["any"] - SUPPORTED[typ]
    if bad:
        out.append(path + ": unsupported keywords %s" % sorted(bad))
    if typ == "object":
        props = s.get("properties", {})
        count[0] += len(props)
        if s.get("additionalProperties") is not False:
            out.append(path + ": object without additionalProperties false")
        if sorted(s.get("required", [])) != sorted(props):
            out.append(path + ": required does not list every property")
        for k, v in props.items():
            out += strict_problems(v, path + "." + k, depth + 1, count)
    if typ == "array":
        if not isinstance(s.get("items"), dict):
            out.append(path + ": array without items")
        else:
            out += strict_problems(s["items"], path + "[]", depth + 1, count)
    if "enum" in s and len(s["enum"]) > 1000:
        out.append(path + ": enum over 1000 values")
    return out


def accepts_null(s):
    return s.get("type") == "null" or any(accepts_null(b) for b in s.get("anyOf", [])) or \
        None in s.get("enum", [0])


def optional_not_nullable(orig, conv, path):
    """Properties optional in the original schema whose converted schema refuses null."""
    out = []
    for name, sub in (orig.get("properties") or {}).items():
        if name not in orig.get("required", []) and not accepts_null(conv["properties"][name]):
            out.append(path + "." + name)
        branches = [sub] + [b for b in sub.get("anyOf", []) if b.get("type") == "object"]
        cbranches = [conv["properties"][name]] + [b for b in conv["properties"][name].get("anyOf", [])
                                                 if b.get("type") == "object"]
        for ob, cb in zip(branches, cbranches):
            if ob.get("type") == "object":
                out += optional_not_nullable(ob, cb, path + "." + name)
            if isinstance(ob.get("items"), dict) and ob["items"].get("type") == "object":
                out += optional_not_nullable(ob["items"], cb["items"], path + "." + name + "[]")
    return out


CONSTRAINING = {"type", "enum", "const", "anyOf", "allOf", "oneOf", "not", "properties", "items",
                "additionalProperties", "required", "$ref", "minimum", "maximum", "pattern",
                "minItems", "maxItems", "minLength", "maxLength", "format", "multipleOf",
                "exclusiveMinimum", "exclusiveMaximum", "prefixItems", "contains"}


def portability_problems(s, path):
    """Inspector 2.x --strict's warnings: a list of types, a schema that constrains nothing,
    a $ref that leaves the document."""
    out = []
    if isinstance(s, bool):
        return [path + ": bare boolean schema"]
    if not isinstance(s, dict):
        return out
    if isinstance(s.get("type"), list):
        out.append(path + ": type is a list %r" % s["type"])
    if not (set(s) & CONSTRAINING):
        out.append(path + ": constrains nothing")
    if isinstance(s.get("$ref"), str) and not s["$ref"].startswith("#"):
        out.append(path + ": remote $ref")
    for k in ("properties", "$defs"):
        for name, sub in (s.get(k) or {}).items():
            out += portability_problems(sub, "%s.%s" % (path, name))
    if isinstance(s.get("additionalProperties"), dict):
        out += portability_problems(s["additionalProperties"], path + ".additionalProperties")
    if isinstance(s.get("items"), dict):
        out += portability_problems(s["items"], path + "[]")
    for k in ("anyOf", "allOf", "oneOf"):
        for i, sub in enumerate(s.get(k) or []):
            out += portability_problems(sub, "%s.%s[%d]" % (path, k, i))
    return out


def tools_list(backend, profile):
    """(response line bytes, tools) from a fresh server."""
    root = tempfile.mkdtemp(prefix="smcp-schemas-")
    argv = [BIN, "--tools", profile]
    if backend == "local":
        argv += ["--local-root", root]
    else:  # listing needs no platform: nothing is contacted before a tool runs
        argv += ["--backend", backend, "--api-key", "k", "--domain", "127.0.0.1:9"]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPEN_SANDBOX_", "E2B_", "X_API_KEY", "SANDBOX_MCP_BACKEND"))}
    msgs = [{"jsonrpc": "2.0", "id": 1, "method": "initialize",
             "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                        "clientInfo": {"name": "schemas", "version": "1"}}},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}]
    p = subprocess.run(argv, input="".join(json.dumps(m) + "\n" for m in msgs).encode(),
                       capture_output=True, timeout=60, env=env)
    line = next((x for x in p.stdout.splitlines() if b'"id":2' in x), b"")
    try:
        return len(line), json.loads(line)["result"]["tools"]
    except (ValueError, KeyError):
        return len(line), []


for backend in ("local", "opensandbox", "e2b"):
    size_all, tools = tools_list(backend, "all")
    size_core, core = tools_list(backend, "core")
    t.ok(len(tools) >= 20 and 0 < len(core) <= 10, "%s lists %d tools (core %d)" % (backend, len(tools), len(core)))
    t.ok(0 < size_all <= BUDGET_ALL[backend], "%s: tools/list is %d bytes, within %d" % (backend, size_all, BUDGET_ALL[backend]))
    t.ok(0 < size_core <= BUDGET_CORE, "%s --tools core: %d bytes, within %d" % (backend, size_core, BUDGET_CORE))
    fails, rules, nulls, raw_open, lint = [], [], [], [], []
    for tool in tools:
        name, schema = tool["name"], tool["inputSchema"]
        # The schema as published is already strict but for `required`: converting it
        # must change nothing else.
        conv = copy.deepcopy(schema)
        try:
            ensure_strict(conv)
        except NotStrict as e:
            fails.append("%s: %s" % (name, e))
            continue
        def strip_required(s):
            if isinstance(s, dict):
                return {k: strip_required(v) for k, v in s.items() if k != "required"}
            if isinstance(s, list):
                return [strip_required(x) for x in s]
            return s
        if strip_required(conv) != strip_required(schema):
            raw_open.append(name)
        count = [0]
        rules += ["%s%s" % (name, p) for p in strict_problems(conv, "", 1, count)]
        if count[0] > 5000:
            rules.append(name + ": over 5000 properties")
        if conv.get("type") != "object" or "anyOf" in conv:
            rules.append(name + ": the root is not an object")
        nulls += [name + p for p in optional_not_nullable(schema, conv, "")]
        lint += [name + ".inputSchema" + p for p in portability_problems(schema, "")]
        lint += [name + ".outputSchema" + p for p in portability_problems(tool.get("outputSchema", {}), "")]
    t.ok(tools and not fails, "%s: every inputSchema converts to strict mode (no fallback)" % backend, fails)
    t.ok(tools and not raw_open, "%s: every object is already closed and typed (conversion only fills required)" % backend, raw_open)
    t.ok(tools and not rules, "%s: the converted schemas obey OpenAI's strict-mode rules" % backend, rules)
    t.ok(tools and not nulls, "%s: every optional property accepts null, so strict mode can leave it out" % backend, nulls)
    t.ok(tools and not lint, "%s: no type lists, untyped schemas or remote refs (Inspector --strict)" % backend, lint)

# The checks can fail: the schemas this server listed before (open maps, an untyped
# property, a list of types) are refused.
old = {"type": "object", "properties": {
    "env": {"type": "object", "additionalProperties": {"type": "string"}},
    "mode": {"description": "octal"}, "x": {"type": ["string", "null"]}}, "additionalProperties": False}
try:
    ensure_strict(copy.deepcopy(old))
    t.ok(False, "an open map falls back to non-strict")
except NotStrict:
    t.ok(True, "an open map falls back to non-strict")
closed = copy.deepcopy(old)
del closed["properties"]["env"]
probs = strict_problems(ensure_strict(closed), "", 1, [0])
t.ok(any("mode" in p for p in probs) and any(".x" in p for p in probs),
     "an untyped property and a list of types break the strict-mode rules", probs)
t.ok(len(portability_problems(old, "")) == 2, "and the portability rules", portability_problems(old, ""))
t.ok(optional_not_nullable({"type": "object", "properties": {"a": {"type": "string"}}},
                           ensure_strict({"type": "object", "properties": {"a": {"type": "string"}}}), "")
     == [".a"], "an optional property that refuses null is found")
t.done()
