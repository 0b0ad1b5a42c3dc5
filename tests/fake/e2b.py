#!/usr/bin/env python3
"""Fake OpenKruise "agents" (E2B-compatible) platform for sandbox-mcp end-to-end tests.

Written from shared/reference/e2b/BRIEF.md ("the brief", sections given as §N) and the
upstream specs beside it (envd/process/process.proto, envd/filesystem/filesystem.proto,
envd/envd.yaml, openapi.yml).  Python 3.11 standard library only; the protobuf wire
codec below is self-contained.  No client code was used.

USAGE
    python3 tests/fake/e2b.py [--port 0] [--domain fake.local] [--api-key K ...]
    -> prints exactly "PORT <n>" (and "K8SPORT <m>" when --k8s-port is given) on stdout,
       then logs to stderr.  SIGTERM/SIGINT: kill every sandbox process, delete the
       temporary sandbox roots, exit 0.

CLI FLAGS
    --host H                 listen address (default 127.0.0.1)
    --port N                 listen port, 0 = ephemeral (default 0)
    --k8s-port N             also serve the fake Kubernetes API alone on a second port
                             (0 = ephemeral; prints "K8SPORT <m>").  Off by default; the
                             k8s API is always reachable under /k8s/ on the main port.
    --k8s-tls CERT,KEY       serve the --k8s-port over TLS with this PEM certificate and
                             key (like a real API server; clients verify it with the CA
                             from their kubeconfig)
    --k8s-client-ca CA       with --k8s-tls: require a client certificate issued by this
                             PEM CA (mutual TLS, like kube-apiserver --client-ca-file); a
                             request with a verified client certificate needs no bearer
                             token, and its subject CN is recorded as k8s_client_cn
    --envd-port N            the port envd listens on inside every sandbox (default 49983;
                             another one models a template that moves it); traffic for
                             other ports gets the 503 below
    --domain D               E2B domain (default fake.local); used in the `domain` field
                             of every Sandbox (like kruise --e2b-domain)
    --api-key K              require X-API-Key == K (or its e2b_ wrapped form, §2.5) on
                             management routes; repeatable; absent = auth disabled
    --access-token T         every sandbox gets envdAccessToken T (deterministic tokens)
    --secure-mode kruise|e2b kruise (default): every sandbox gets a token, `secure` is
                             ignored (§3); e2b: a token only when create says secure:true
    --keepalive-s S          keepalive interval for process/watch streams when the
                             request has no Keepalive-Ping-Interval header (default 90, §5)
    --k8s-token T            bearer token the fake k8s API requires (default fake-k8s-token)
    --namespace NS           namespace of sandboxes created through the REST API (default)
    --short-ids              REST-created sandboxes get short IDs + label (§2.3); default
                             legacy "<ns>--<template>-<5 chars>"
    --templates a,b          known templates, "*" = any (default base,code-interpreter)
    --users a,b              OS users envd knows (default root,user; §1 / §11.7)
    --max-timeout S          kruise --e2b-max-timeout (default 2592000)
    --min-timeout S          lower bound of create timeout (default 30; lower it in tests)
    --min-resume-timeout S   kruise --e2b-min-resume-timeout (default 300)
    --max-sandboxes N        403 on create beyond N live sandboxes (default unlimited)
    --connect-after-exit replay|not_found
                             envd 0.6.13 replays start+end for 30 s after exit (default);
                             older envds answer not_found (§7)
    --exited-retention-s S   how long exited processes stay replayable (default 30)
    --gateway-errors ext_proc|gateway
                             wording of routing 502s: ext_proc (default) "API Error:
                             healthy sandbox <id> not found"; gateway "sandbox not found:
                             <id>" / "healthy sandbox not found: <id>" (§4)
    --gateway-auth           the standalone gateway's optional plain-text 401 when
                             X-Access-Token does not match the sandbox token (§4)
    --no-gzip                never gzip responses (default: gzip like envd when asked)
    --root DIR               parent dir for sandbox roots (default: a fresh temp dir)
    --exit-on-stdin-eof      exit when stdin closes (handy when the parent may die)
    --quiet                  no per-request log lines

ROUTING (checked in this order for each request; all modes are served at once)
    1  path /__fake/...                       -> test-control API (any Host)
    2  path /k8s/... (or anything on --k8s-port) -> fake Kubernetes API, prefix stripped
    3  path /kruise/api or /kruise/api/...    -> management API, prefix stripped  (Private)
    4  path /kruise[/...]                     -> Private envd: /kruise/<id>/<port>[/<rest>]
                                                 -> envd path /<rest> (query kept)      (§4)
    5  Host starts with "api."                -> management API at /                (Native)
    6  header e2b-sandbox-id present          -> envd of that id, port from
                                                 e2b-sandbox-port (default 49983)   (header)
    7  Host matches ^(\\d+)-([a-zA-Z0-9-]+)\\.  -> envd (port, id)                     (Native)
    8  anything else (e.g. Host 127.0.0.1:n)  -> management API at / (plain --api-url base)
    Management accepts both /x and /kruise/api/x in every mode, like kruise (§3).
    Routing-layer errors are PLAIN TEXT (§4, §11.5): unmappable /kruise path -> 500
    "API Error: failed to map request to sandbox, URL=<path>"; non-numeric port -> 400;
    unknown, killed, expired or paused sandbox -> 502 "API Error: healthy sandbox <id> not
    found"; a port other than --envd-port -> 503 Envoy "upstream connect error ..." (choice).

TEST-CONTROL API (/__fake/, never recorded, never auth-checked)
    GET  /__fake/requests[?since=SEQ]  JSON list of recorded requests: seq, time, method,
         path, raw_query, query{k:[v]}, host, headers{lower-name: value}, route
         (management|envd|k8s|routing), sandbox_id, port, upstream_path, status, and
         json (parsed management body) / rpc + message (decoded Connect request, proto
         field names, enums as numbers, bytes as base64) / messages (StreamInput) /
         decode_error, body_len, fault.
    POST /__fake/reset              kill all sandboxes, clear requests and faults
                                    ({"keep_sandboxes":true} keeps sandboxes)
    POST /__fake/fault              {"match":"<METHOD|*> <path-regex>", "kind":
         "drop_mid_stream|status|slow|plain502|bad_envelope", "status":N, "delay_ms":N,
         "count":N (default 1, <=0 unlimited), "after":N (messages/bytes-halves sent
         before drop/bad envelope; default 1), "variant": "garbage|truncated|bad_flags"
         (bad_envelope), "body":"...", "content_type":"..."}.  The regex is searched in
         the raw request path (query excluded).  Returns {"id":..}.
    GET  /__fake/faults, DELETE /__fake/fault (clear all)
    POST /__fake/sandbox            pre-create a sandbox: {"template","namespace","name",
         "shortId" (default true), "token" (null=random, ""=none), "timeout" (s),
         "timeoutMs", "envVars", "metadata", "labels", "state" ("running"|"paused"),
         "apiKey" (owner), "autoPause"} -> 201 {"sandboxID","envdAccessToken","namespace",
         "name","root","domain"}
    GET  /__fake/sandboxes          internal view (ids, state, root dir, pids)
    POST /__fake/expire             {"sandboxID":..,"in_ms":N} set the expiry clock
    GET  /__fake/health             200 {"ok":true}

FAKE KUBERNETES API (plain HTTP; under /k8s on the main port or at / on --k8s-port)
    GET /apis/agents.kruise.io/v1alpha1/namespaces/{ns}/sandboxes/{name}  -> Sandbox CR
    GET /apis/agents.kruise.io/v1alpha1/namespaces/{ns}/sandboxes         -> SandboxList
    GET /version.  Requires "Authorization: Bearer <--k8s-token>" or, with
    --k8s-client-ca, a verified client certificate over TLS (401 Status otherwise;
    404 Status for unknown objects).  Label agents.kruise.io/sandbox-id only on sandboxes
    with a short ID (§2.3), annotation agents.kruise.io/runtime-access-token when the
    sandbox has a token.  spec/status contents are invented (spec.paused, status.phase,
    status.podInfo.podIP) -- the brief does not describe them.

BRIEF SECTIONS IMPLEMENTED
    §1   envdVersion "0.2.10" everywhere; default user root; envd port 49983
    §2.3 Sandbox CR with label/annotation (fake k8s API); legacy ns--name and short IDs
    §2.5 API keys: raw key or the e2b_ wrapped compat form
    §3   every REST route kruise needs, status codes, ApiError bodies, 404/405 of the Go
         ServeMux, X-Request-ID, Sandbox object, create validation (template, timeout,
         metadata keys/extension keys/label: keys, cpu-request -> cpuCount may be 0),
         list v2 (state, limit, nextToken, x-next-token, double-decoded metadata, extra
         query keys as filters), connect 200/201, resume 204/409, timeout 204/500,
         pause 204/409, kill 204/404, PUT network 204, GET /health, expiry + autoPause
    §4   Native / Private / header routing, plain-text 5xx, optional gateway 401
    §5   envd access token (HTTP 401 JSON before Connect), Basic user authn, keepalive
    §6   Connect unary + server-streaming (+ client-streaming StreamInput), envelopes,
         end-stream JSON, Connect-Timeout-Ms, JSON codec too, gzip when advertised
    §7   Process: Start/Connect/List/Update/StreamInput/SendInput/SendSignal/CloseStdin,
         explicit-stdin flag, sint32 exit codes, Go status strings, deadline kills,
         stream cancel does not, Connect replay window, PTY via os.openpty
    §8   Filesystem: Stat/MakeDir/Move/ListDir(depth, pre-order)/Remove/WatchDir and the
         Create/GetEvents/RemoveWatcher trio (polling based), EntryInfo rules (symlink =
         target type+mode, perm-only mode, Go FileMode.String())
    §9   /health, /files GET (Range, Content-Disposition, gzip negotiation, 404/400/401)
         and POST (multipart with path-carrying filenames, octet-stream, gzip bodies,
         X-Metadata-*), signatures, /envs, /metrics, /init
    §10  error mapping as listed;  §11 every surprise is reproduced (see the end reply)

CHOICES THE BRIEF LEAVES OPEN (made here)
    * No chroot: processes run on the host as the fake's own OS user, with cwd mapped into
      the sandbox dir and HOME set to the *host* path of the user's sandbox home.  Absolute
      paths inside command strings are host paths.  Filesystem RPCs and /files map every
      absolute path under the sandbox root; ".." is clamped at "/", and anything whose
      realpath leaves the root is refused (RPC permission_denied, /files 400).
    * Users: any name in --users is valid; home = /root for root, /home/<u> otherwise.
      owner/group in EntryInfo are the host's names (numeric when unknown).
    * Commands are wrapped as  /bin/sh -c 'exec "$@"' -- cmd args...  (like envd, minus
      oom/nice), so an unknown cmd exits 127.  PTY children get no controlling tty.
    * After a process exits, output still buffered is drained for <=0.1 s of quiet (cap 2 s)
      and then the end event is sent, even if grandchildren keep the pipes open (like Go's
      cmd.Wait closing the pipes).
    * Deadline on Start: SIGKILL to the process, no end event on that stream, end-stream
      {"error":{"code":"deadline_exceeded","message":"context deadline exceeded"}}.
      On Connect/WatchDir the deadline only ends the stream.
    * Pause SIGSTOPs the sandbox's process groups and drops open envd streams abruptly;
      resume/connect SIGCONTs them.  Kill/expiry SIGKILLs them and drops streams abruptly.
      Paused sandboxes never expire.
    * CloseStdin on a process without open stdin is a no-op success; on a PTY process it
      is failed_precondition.  Update on a non-PTY process is failed_precondition.
      SendInput without open stdin: internal "error writing to stdin: stdin is not open".
    * Remove of "/" is refused (invalid_argument).  File metadata (X-Metadata-*) is kept in
      memory per path (follows Move), not as xattrs.
    * List v2: default state = running+paused; order = creation order; nextToken is an
      opaque cursor (bad token -> 400); repeated state params are merged.
    * Invented messages (brief has none): metadata-key 400s, pause 409 "sandbox <id> is
      already paused", resume 409 "sandbox <id> is not paused", timeout 500 "sandbox <id>
      is not running", quota 403, list-parameter 400s, malformed JSON 500/400.
    * PUT /sandboxes/{id}/network replaces allowOut/denyOut (shown by GET as `network`),
      like kruise network.go: allow_internet_access=false adds denyOut 0.0.0.0/0 (also at
      create), denyOut entries must be IPs or CIDRs (400 otherwise); 409 when paused.
    * Fault "status" bodies: ApiError JSON on management, Connect JSON error on RPC,
      envd {"code","message"} on /files, k8s Status on k8s, plain text elsewhere.
"""

import argparse
import base64
import binascii
import gzip
import hashlib
import ipaddress
import json
import mimetypes
import os
import posixpath
import queue
import re
import secrets
import select
import shutil
import signal
import socket
import stat
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
import zlib
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit

try:  # optional niceties; absent on exotic platforms
    import fcntl
    import grp
    import pwd
    import termios
except ImportError:  # pragma: no cover
    fcntl = grp = pwd = termios = None

ENVD_PORT = 49983
ENVD_VERSION = "0.2.10"
NEVER = "0001-01-01T00:00:00Z"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

###############################################################################
# 1. Protobuf wire codec (varint, zigzag, length-delimited, nested, repeated,
#    packed, map entries, oneof, proto3 optional presence) + proto-JSON mapping
###############################################################################


class ProtoError(ValueError):
    pass


def enc_varint(n):
    if n < 0:
        n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def dec_varint(buf, pos):
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ProtoError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ProtoError("varint too long")


def zigzag_enc(n):
    return (n << 1) ^ (n >> 63)


def zigzag_dec(n):
    return (n >> 1) ^ -(n & 1)


def iter_fields(buf):
    """Yield (field_number, wire_type, value) for every field of a message."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = dec_varint(buf, pos)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise ProtoError("invalid field number 0")
        if wt == 0:
            val, pos = dec_varint(buf, pos)
        elif wt == 1:
            if pos + 8 > end:
                raise ProtoError("truncated fixed64")
            val, pos = bytes(buf[pos:pos + 8]), pos + 8
        elif wt == 2:
            ln, pos = dec_varint(buf, pos)
            if pos + ln > end:
                raise ProtoError("truncated length-delimited field")
            val, pos = bytes(buf[pos:pos + ln]), pos + ln
        elif wt == 5:
            if pos + 4 > end:
                raise ProtoError("truncated fixed32")
            val, pos = bytes(buf[pos:pos + 4]), pos + 4
        else:
            raise ProtoError("unsupported wire type %d" % wt)
        yield num, wt, val


class F:
    """One field: number, name, type, label ('', 'optional', 'repeated'), oneof name.
    type: string bytes bool uint32 int32 sint32 int64 uint64 enum:<E> msg:<M> map"""
    __slots__ = ("num", "name", "type", "label", "oneof")

    def __init__(self, num, name, typ, label="", oneof=None):
        self.num, self.name, self.type, self.label, self.oneof = num, name, typ, label, oneof


SCHEMAS = {}
ENUMS = {}
VARINT_TYPES = ("bool", "uint32", "int32", "sint32", "int64", "uint64")


def message(name, *fields):
    SCHEMAS[name] = sorted(fields, key=lambda f: f.num)


# --- google.protobuf
message("google.protobuf.Timestamp", F(1, "seconds", "int64"), F(2, "nanos", "int32"))

# --- process.proto
ENUMS["process.Signal"] = {"SIGNAL_UNSPECIFIED": 0, "SIGNAL_SIGTERM": 15, "SIGNAL_SIGKILL": 9}
message("process.PTY.Size", F(1, "cols", "uint32"), F(2, "rows", "uint32"))
message("process.PTY", F(1, "size", "msg:process.PTY.Size"))
message("process.ProcessConfig", F(1, "cmd", "string"), F(2, "args", "string", "repeated"),
        F(3, "envs", "map"), F(4, "cwd", "string", "optional"))
message("process.ListRequest")
message("process.ProcessInfo", F(1, "config", "msg:process.ProcessConfig"), F(2, "pid", "uint32"),
        F(3, "tag", "string", "optional"))
message("process.ListResponse", F(1, "processes", "msg:process.ProcessInfo", "repeated"))
message("process.StartRequest", F(1, "process", "msg:process.ProcessConfig"),
        F(2, "pty", "msg:process.PTY", "optional"), F(3, "tag", "string", "optional"),
        F(4, "stdin", "bool", "optional"))
message("process.UpdateRequest", F(1, "process", "msg:process.ProcessSelector"),
        F(2, "pty", "msg:process.PTY", "optional"))
message("process.UpdateResponse")
message("process.ProcessEvent",
        F(1, "start", "msg:process.ProcessEvent.StartEvent", oneof="event"),
        F(2, "data", "msg:process.ProcessEvent.DataEvent", oneof="event"),
        F(3, "end", "msg:process.ProcessEvent.EndEvent", oneof="event"),
        F(4, "keepalive", "msg:process.ProcessEvent.KeepAlive", oneof="event"))
message("process.ProcessEvent.StartEvent", F(1, "pid", "uint32"))
message("process.ProcessEvent.DataEvent", F(1, "stdout", "bytes", oneof="output"),
        F(2, "stderr", "bytes", oneof="output"), F(3, "pty", "bytes", oneof="output"))
message("process.ProcessEvent.EndEvent", F(1, "exit_code", "sint32"), F(2, "exited", "bool"),
        F(3, "status", "string"), F(4, "error", "string", "optional"))
message("process.ProcessEvent.KeepAlive")
message("process.StartResponse", F(1, "event", "msg:process.ProcessEvent"))
message("process.ConnectResponse", F(1, "event", "msg:process.ProcessEvent"))
message("process.SendInputRequest", F(1, "process", "msg:process.ProcessSelector"),
        F(2, "input", "msg:process.ProcessInput"))
message("process.SendInputResponse")
message("process.ProcessInput", F(1, "stdin", "bytes", oneof="input"), F(2, "pty", "bytes", oneof="input"))
message("process.StreamInputRequest",
        F(1, "start", "msg:process.StreamInputRequest.StartEvent", oneof="event"),
        F(2, "data", "msg:process.StreamInputRequest.DataEvent", oneof="event"),
        F(3, "keepalive", "msg:process.StreamInputRequest.KeepAlive", oneof="event"))
message("process.StreamInputRequest.StartEvent", F(1, "process", "msg:process.ProcessSelector"))
message("process.StreamInputRequest.DataEvent", F(2, "input", "msg:process.ProcessInput"))
message("process.StreamInputRequest.KeepAlive")
message("process.StreamInputResponse")
message("process.SendSignalRequest", F(1, "process", "msg:process.ProcessSelector"),
        F(2, "signal", "enum:process.Signal"))
message("process.SendSignalResponse")
message("process.CloseStdinRequest", F(1, "process", "msg:process.ProcessSelector"))
message("process.CloseStdinResponse")
message("process.ConnectRequest", F(1, "process", "msg:process.ProcessSelector"))
message("process.ProcessSelector", F(1, "pid", "uint32", oneof="selector"),
        F(2, "tag", "string", oneof="selector"))

# --- filesystem.proto
ENUMS["filesystem.FileType"] = {"FILE_TYPE_UNSPECIFIED": 0, "FILE_TYPE_FILE": 1,
                                "FILE_TYPE_DIRECTORY": 2, "FILE_TYPE_SYMLINK": 3}
ENUMS["filesystem.EventType"] = {"EVENT_TYPE_UNSPECIFIED": 0, "EVENT_TYPE_CREATE": 1,
                                 "EVENT_TYPE_WRITE": 2, "EVENT_TYPE_REMOVE": 3,
                                 "EVENT_TYPE_RENAME": 4, "EVENT_TYPE_CHMOD": 5}
message("filesystem.MoveRequest", F(1, "source", "string"), F(2, "destination", "string"))
for _n in ("Move", "MakeDir", "Stat"):
    message("filesystem.%sResponse" % _n, F(1, "entry", "msg:filesystem.EntryInfo"))
for _n in ("MakeDir", "Remove", "Stat"):
    message("filesystem.%sRequest" % _n, F(1, "path", "string"))
message("filesystem.RemoveResponse")
message("filesystem.EntryInfo", F(1, "name", "string"), F(2, "type", "enum:filesystem.FileType"),
        F(3, "path", "string"), F(4, "size", "int64"), F(5, "mode", "uint32"),
        F(6, "permissions", "string"), F(7, "owner", "string"), F(8, "group", "string"),
        F(9, "modified_time", "msg:google.protobuf.Timestamp"),
        F(10, "symlink_target", "string", "optional"), F(11, "metadata", "map"))
message("filesystem.ListDirRequest", F(1, "path", "string"), F(2, "depth", "uint32"))
message("filesystem.ListDirResponse", F(1, "entries", "msg:filesystem.EntryInfo", "repeated"))
for _n in ("WatchDirRequest", "CreateWatcherRequest"):
    message("filesystem." + _n, F(1, "path", "string"), F(2, "recursive", "bool"),
            F(3, "include_entry", "bool"), F(4, "allow_network_mounts", "bool"))
message("filesystem.FilesystemEvent", F(1, "name", "string"), F(2, "type", "enum:filesystem.EventType"),
        F(3, "entry", "msg:filesystem.EntryInfo", "optional"))
message("filesystem.WatchDirResponse",
        F(1, "start", "msg:filesystem.WatchDirResponse.StartEvent", oneof="event"),
        F(2, "filesystem", "msg:filesystem.FilesystemEvent", oneof="event"),
        F(3, "keepalive", "msg:filesystem.WatchDirResponse.KeepAlive", oneof="event"))
message("filesystem.WatchDirResponse.StartEvent")
message("filesystem.WatchDirResponse.KeepAlive")
message("filesystem.CreateWatcherResponse", F(1, "watcher_id", "string"))
message("filesystem.GetWatcherEventsRequest", F(1, "watcher_id", "string"))
message("filesystem.GetWatcherEventsResponse", F(1, "events", "msg:filesystem.FilesystemEvent", "repeated"))
message("filesystem.RemoveWatcherRequest", F(1, "watcher_id", "string"))
message("filesystem.RemoveWatcherResponse")


def _signed(v, bits):
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _scalar_from_wire(f, wt, val):
    t = f.type
    if t in VARINT_TYPES or t.startswith("enum:"):
        if wt != 0:
            raise ProtoError("field %s: wire type %d, want varint" % (f.name, wt))
        if t == "bool":
            return val != 0
        if t == "uint32":
            return val & 0xFFFFFFFF
        if t == "uint64":
            return val & 0xFFFFFFFFFFFFFFFF
        if t == "int64":
            return _signed(val, 64)
        if t == "sint32":
            return _signed(zigzag_dec(val & 0xFFFFFFFF), 32)
        return _signed(val, 32)  # int32, enum
    if wt != 2:
        raise ProtoError("field %s: wire type %d, want length-delimited" % (f.name, wt))
    if t == "string":
        try:
            return val.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtoError("field %s: string contains invalid UTF-8" % f.name)
    if t == "bytes":
        return val
    if t.startswith("msg:"):
        return decode(t[4:], val)
    raise ProtoError("unknown type %s" % t)


def decode(tname, buf):
    """Decode a message into a dict holding only the fields present on the wire."""
    by_num = {f.num: f for f in SCHEMAS[tname]}
    out = {}
    for num, wt, val in iter_fields(buf):
        f = by_num.get(num)
        if f is None:
            continue  # unknown field: skipped, as proto3 does
        if f.type == "map":
            if wt != 2:
                raise ProtoError("map field %s: bad wire type" % f.name)
            k = v = ""
            for n2, w2, v2 in iter_fields(val):
                if w2 != 2:
                    raise ProtoError("map entry: bad wire type")
                if n2 == 1:
                    k = v2.decode("utf-8")
                elif n2 == 2:
                    v = v2.decode("utf-8")
            out.setdefault(f.name, {})[k] = v
            continue
        if f.label == "repeated":
            lst = out.setdefault(f.name, [])
            if wt == 2 and (f.type in VARINT_TYPES or f.type.startswith("enum:")):
                pos = 0
                while pos < len(val):  # packed encoding
                    raw, pos = dec_varint(val, pos)
                    lst.append(_scalar_from_wire(f, 0, raw))
            else:
                lst.append(_scalar_from_wire(f, wt, val))
            continue
        if f.oneof:
            for other in SCHEMAS[tname]:
                if other.oneof == f.oneof:
                    out.pop(other.name, None)
        out[f.name] = _scalar_from_wire(f, wt, val)
    return out


def _is_default(t, v):
    if t == "bool":
        return v is False
    if t in ("string",):
        return v == ""
    if t == "bytes":
        return v == b""
    return v == 0


def _enc_scalar(f, v):
    t = f.type
    if t == "bool":
        return 0, enc_varint(1 if v else 0)
    if t == "sint32":
        return 0, enc_varint(zigzag_enc(int(v)) & 0xFFFFFFFF)
    if t in VARINT_TYPES or t.startswith("enum:"):
        return 0, enc_varint(int(v))
    if t == "string":
        b = v.encode("utf-8")
    elif t == "bytes":
        b = bytes(v)
    elif t.startswith("msg:"):
        b = encode(t[4:], v)
    else:
        raise ProtoError("cannot encode type %s" % t)
    return 2, enc_varint(len(b)) + b


def _tag(num, wt):
    return enc_varint((num << 3) | wt)


def encode(tname, d):
    """Encode a dict; proto3 rules: implicit-presence scalars equal to the default are
    skipped, optional/oneof members and sub-messages are written when present."""
    out = bytearray()
    for f in SCHEMAS[tname]:
        if f.name not in d or d[f.name] is None:
            continue
        v = d[f.name]
        if f.type == "map":
            for k, mv in v.items():
                kb, vb = str(k).encode(), str(mv).encode()
                entry = _tag(1, 2) + enc_varint(len(kb)) + kb + _tag(2, 2) + enc_varint(len(vb)) + vb
                out += _tag(f.num, 2) + enc_varint(len(entry)) + entry
        elif f.label == "repeated":
            for item in v:
                wt, b = _enc_scalar(f, item)
                out += _tag(f.num, wt) + b
        else:
            if (f.label != "optional" and not f.oneof and not f.type.startswith("msg:")
                    and _is_default(f.type, v)):
                continue
            wt, b = _enc_scalar(f, v)
            out += _tag(f.num, wt) + b
    return bytes(out)


def _camel(name):
    parts = name.split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def _ts_to_json(d):
    sec, nanos = d.get("seconds", 0), d.get("nanos", 0)
    s = datetime.fromtimestamp(sec, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if nanos:
        s += ("." + "%09d" % nanos).rstrip("0")
    return s + "Z"


def _ts_from_json(s):
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)", s)
    if not m:
        raise ProtoError("bad timestamp %r" % s)
    dt = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    sec = int(dt.timestamp())
    if m.group(3) != "Z":
        sign = 1 if m.group(3)[0] == "+" else -1
        sec -= sign * (int(m.group(3)[1:3]) * 3600 + int(m.group(3)[4:6]) * 60)
    return {"seconds": sec, "nanos": int((m.group(2) or "0").ljust(9, "0"))}


def to_json(tname, d):
    """Proto3 JSON mapping (lowerCamel names, enums by name, 64-bit ints as strings,
    bytes base64, Timestamp RFC 3339)."""
    if tname == "google.protobuf.Timestamp":
        return _ts_to_json(d)
    out = {}
    for f in SCHEMAS[tname]:
        if f.name not in d or d[f.name] is None:
            continue
        v = d[f.name]
        if f.type == "map":
            out[_camel(f.name)] = dict(v)
            continue
        conv = lambda x: _json_scalar(f, x)  # noqa: E731
        if f.label == "repeated":
            out[_camel(f.name)] = [conv(x) for x in v]
        else:
            if (f.label != "optional" and not f.oneof and not f.type.startswith("msg:")
                    and _is_default(f.type, v)):
                continue
            out[_camel(f.name)] = conv(v)
    return out


def _json_scalar(f, v):
    t = f.type
    if t == "bytes":
        return base64.b64encode(v).decode()
    if t in ("int64", "uint64"):
        return str(v)
    if t.startswith("enum:"):
        for k, num in ENUMS[t[5:]].items():
            if num == v:
                return k
        return v
    if t.startswith("msg:"):
        return to_json(t[4:], v)
    return v


def from_json(tname, obj):
    if tname == "google.protobuf.Timestamp":
        return _ts_from_json(obj)
    if not isinstance(obj, dict):
        raise ProtoError("%s: expected a JSON object" % tname)
    out = {}
    for f in SCHEMAS[tname]:
        key = f.name if f.name in obj else _camel(f.name)
        if key not in obj or obj[key] is None:
            continue
        v = obj[key]
        if f.type == "map":
            out[f.name] = {str(k): str(x) for k, x in v.items()}
        elif f.label == "repeated":
            out[f.name] = [_from_json_scalar(f, x) for x in v]
        else:
            out[f.name] = _from_json_scalar(f, v)
    return out


def _from_json_scalar(f, v):
    t = f.type
    try:
        if t == "bytes":
            s = v + "=" * (-len(v) % 4)
            return base64.b64decode(s.replace("-", "+").replace("_", "/"))
        if t == "bool":
            if not isinstance(v, bool):
                raise ProtoError("field %s: expected bool" % f.name)
            return v
        if t == "string":
            if not isinstance(v, str):
                raise ProtoError("field %s: expected string" % f.name)
            return v
        if t.startswith("enum:"):
            if isinstance(v, str):
                if v not in ENUMS[t[5:]]:
                    raise ProtoError("field %s: unknown enum value %s" % (f.name, v))
                return ENUMS[t[5:]][v]
            return int(v)
        if t.startswith("msg:"):
            return from_json(t[4:], v)
        return int(v)
    except (ValueError, TypeError, binascii.Error) as e:
        raise ProtoError("field %s: %s" % (f.name, e))


def _json_default(o):
    if isinstance(o, (bytes, bytearray)):
        return base64.b64encode(bytes(o)).decode()
    return str(o)


###############################################################################
# 2. Connect protocol helpers (§6)
###############################################################################

CODE_HTTP = {"canceled": 499, "unknown": 500, "invalid_argument": 400, "deadline_exceeded": 504,
             "not_found": 404, "already_exists": 409, "permission_denied": 403,
             "resource_exhausted": 429, "failed_precondition": 400, "aborted": 409,
             "out_of_range": 400, "unimplemented": 501, "internal": 500, "unavailable": 503,
             "data_loss": 500, "unauthenticated": 401}
HTTP_CODE = {400: "invalid_argument", 401: "unauthenticated", 403: "permission_denied",
             404: "not_found", 409: "aborted", 429: "resource_exhausted", 499: "canceled",
             500: "internal", 501: "unimplemented", 503: "unavailable", 504: "deadline_exceeded"}


class ConnectError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message

    def body(self):
        return {"code": self.code, "message": self.message}


FLAG_COMPRESSED, FLAG_END = 0x01, 0x02


def envelope(flags, payload):
    return struct.pack(">BI", flags, len(payload)) + payload


def read_envelopes(body):
    """Split a request body into [(flags, payload)]."""
    out, pos = [], 0
    while pos < len(body):
        if pos + 5 > len(body):
            raise ProtoError("truncated envelope header")
        flags, ln = struct.unpack(">BI", body[pos:pos + 5])
        pos += 5
        if pos + ln > len(body):
            raise ProtoError("truncated envelope payload")
        out.append((flags, body[pos:pos + ln]))
        pos += ln
    return out


# rpc name -> (kind, request type, response type, handler method name)
RPCS = {
    "process.Process/List": ("unary", "process.ListRequest", "process.ListResponse", "rpc_list"),
    "process.Process/Start": ("server", "process.StartRequest", "process.StartResponse", "rpc_start"),
    "process.Process/Connect": ("server", "process.ConnectRequest", "process.ConnectResponse", "rpc_connect"),
    "process.Process/Update": ("unary", "process.UpdateRequest", "process.UpdateResponse", "rpc_update"),
    "process.Process/StreamInput": ("client", "process.StreamInputRequest", "process.StreamInputResponse",
                                    "rpc_stream_input"),
    "process.Process/SendInput": ("unary", "process.SendInputRequest", "process.SendInputResponse",
                                  "rpc_send_input"),
    "process.Process/SendSignal": ("unary", "process.SendSignalRequest", "process.SendSignalResponse",
                                   "rpc_send_signal"),
    "process.Process/CloseStdin": ("unary", "process.CloseStdinRequest", "process.CloseStdinResponse",
                                   "rpc_close_stdin"),
    "filesystem.Filesystem/Stat": ("unary", "filesystem.StatRequest", "filesystem.StatResponse", "rpc_stat"),
    "filesystem.Filesystem/MakeDir": ("unary", "filesystem.MakeDirRequest", "filesystem.MakeDirResponse",
                                      "rpc_make_dir"),
    "filesystem.Filesystem/Move": ("unary", "filesystem.MoveRequest", "filesystem.MoveResponse", "rpc_move"),
    "filesystem.Filesystem/ListDir": ("unary", "filesystem.ListDirRequest", "filesystem.ListDirResponse",
                                      "rpc_list_dir"),
    "filesystem.Filesystem/Remove": ("unary", "filesystem.RemoveRequest", "filesystem.RemoveResponse",
                                     "rpc_remove"),
    "filesystem.Filesystem/WatchDir": ("server", "filesystem.WatchDirRequest", "filesystem.WatchDirResponse",
                                       "rpc_watch_dir"),
    "filesystem.Filesystem/CreateWatcher": ("unary", "filesystem.CreateWatcherRequest",
                                            "filesystem.CreateWatcherResponse", "rpc_create_watcher"),
    "filesystem.Filesystem/GetWatcherEvents": ("unary", "filesystem.GetWatcherEventsRequest",
                                               "filesystem.GetWatcherEventsResponse", "rpc_get_watcher_events"),
    "filesystem.Filesystem/RemoveWatcher": ("unary", "filesystem.RemoveWatcherRequest",
                                            "filesystem.RemoveWatcherResponse", "rpc_remove_watcher"),
}

###############################################################################
# 3. Small utilities
###############################################################################


def rfc3339(t):
    if t is None:
        return NEVER
    return datetime.fromtimestamp(int(t), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def http_date(t):
    return datetime.fromtimestamp(int(t), timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")


GEN_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s generateName alphabet


def rand_suffix(n=5):
    return "".join(secrets.choice(GEN_ALPHABET) for _ in range(n))


def short_id():
    return "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(20))


def wrap_api_key(raw):
    """§2.5 keys/compat.go EncodeForE2BSDK."""
    rb = raw.encode()
    mac = hashlib.sha256(b"openkruise-agents/e2b-key-compat/v1" + rb).digest()[:8]
    return "e2b_" + "6f6b6167" + "01" + "%08x" % len(rb) + rb.hex() + mac.hex()


GO_SIGNALS = {1: "hangup", 2: "interrupt", 3: "quit", 4: "illegal instruction", 5: "trace/breakpoint trap",
              6: "aborted", 7: "bus error", 8: "floating point exception", 9: "killed",
              10: "user defined signal 1", 11: "segmentation fault", 12: "user defined signal 2",
              13: "broken pipe", 14: "alarm clock", 15: "terminated"}


def go_mode_string(m):
    """Go os.FileMode.String() for an st_mode (letters 'dalTLDpSugct?')."""
    t = stat.S_IFMT(m)
    s = ""
    if t == stat.S_IFDIR:
        s += "d"
    if t == stat.S_IFLNK:
        s += "L"
    if t in (stat.S_IFBLK, stat.S_IFCHR):
        s += "D"
    if t == stat.S_IFIFO:
        s += "p"
    if t == stat.S_IFSOCK:
        s += "S"
    if m & stat.S_ISUID:
        s += "u"
    if m & stat.S_ISGID:
        s += "g"
    if t == stat.S_IFCHR:
        s += "c"
    if m & stat.S_ISVTX:
        s += "t"
    s = s or "-"
    return s + "".join(c if m & (1 << (8 - i)) else "-" for i, c in enumerate("rwxrwxrwx"))


def file_type(m):
    if stat.S_ISREG(m):
        return 1
    if stat.S_ISDIR(m):
        return 2
    if stat.S_ISLNK(m):
        return 3
    return 0


def uname(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except Exception:
        return str(uid)


def gname(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except Exception:
        return str(gid)


_QN_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")


def qualified_name_error(key):
    """k8s IsQualifiedName; returns an error string or None."""
    prefix, sep, name = key.rpartition("/")
    if sep and (not prefix or len(prefix) > 253 or not _DNS1123.fullmatch(prefix)):
        return "prefix part must be a DNS-1123 subdomain"
    if not name or len(name) > 63 or not _QN_NAME.fullmatch(name):
        return ("name part must consist of alphanumeric characters, '-', '_' or '.', and must "
                "start and end with an alphanumeric character (max 63 characters)")
    return None


def parse_cpu_millis(q):
    q = str(q).strip()
    if q.endswith("m"):
        return int(float(q[:-1]))
    return int(float(q) * 1000)


def parse_header_params(value):
    """'form-data; name="file"; filename="a/b.txt"' -> ('form-data', {...})."""
    parts = []
    cur, inq, esc = "", False, False
    for ch in value:
        if esc:
            cur += ch
            esc = False
        elif ch == "\\" and inq:
            esc = True
        elif ch == '"':
            inq = not inq
        elif ch == ";" and not inq:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    params = {}
    for p in parts[1:]:
        k, _, v = p.strip().partition("=")
        params[k.strip().lower()] = v.strip()
    return parts[0].strip().lower(), params


def parse_multipart(body, boundary):
    """Binary-safe multipart/form-data parser -> [(headers{lower:str}, data bytes)]."""
    delim = b"\r\n--" + boundary.encode("latin-1")
    chunks = (b"\r\n" + body).split(delim)
    parts = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        nl = chunk.find(b"\r\n")
        if nl < 0:
            raise ValueError("malformed multipart part")
        chunk = chunk[nl + 2:]
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            if chunk.startswith(b"\r\n"):
                head, data = b"", chunk[2:]
            else:
                raise ValueError("malformed multipart part headers")
        hdrs = {}
        for line in head.split(b"\r\n"):
            if b":" in line:
                k, _, v = line.partition(b":")
                hdrs[k.decode("latin-1").strip().lower()] = v.decode("utf-8", "replace").strip()
        parts.append((hdrs, data))
    else:
        if len(chunks) < 2:
            raise ValueError("no multipart boundary found")
    return parts


def accepts_gzip(header):
    """-> 'gzip' | 'identity' | None (nothing acceptable)."""
    if not header:
        return "identity"
    prefs = {}
    for item in header.split(","):
        name, _, params = item.strip().partition(";")
        q = 1.0
        m = re.search(r"q\s*=\s*([0-9.]+)", params)
        if m:
            try:
                q = float(m.group(1))
            except ValueError:
                q = 0.0
        if name.strip():
            prefs[name.strip().lower()] = q
    if prefs.get("gzip", prefs.get("*", 0)) > 0:
        return "gzip"
    if prefs.get("identity", prefs.get("*", 1.0)) > 0:
        return "identity"
    return None


class Abort(Exception):
    """Drop the connection without finishing the response (fault or sandbox gone)."""


class ClientGone(Exception):
    pass


###############################################################################
# 4. Sandbox model: filesystem mapping, processes, watchers
###############################################################################


class PathEscape(Exception):
    pass


class Proc:
    def __init__(self, sb, popen, config, tag, pty_master, stdin_file):
        self.sb, self.popen, self.pid = sb, popen, popen.pid
        self.config, self.tag = config, tag
        self.pty_master, self.stdin_file = pty_master, stdin_file
        self.lock = threading.Lock()
        self.subs = []
        self.end_event = None
        self.exit_flag = threading.Event()
        self.exit_time = None
        self.readers = []

    def info(self):
        d = {"config": self.config, "pid": self.pid}
        if self.tag is not None:
            d["tag"] = self.tag
        return d

    def subscribe(self):
        """New subscriber queue that first sees start{pid}; None once ended."""
        q = queue.Queue()
        with self.lock:
            if self.end_event is not None:
                return None
            q.put(("start", {"start": {"pid": self.pid}}))
            self.subs.append(q)
        return q

    def unsubscribe(self, q):
        with self.lock:
            if q in self.subs:
                self.subs.remove(q)

    def publish(self, kind, ev):
        with self.lock:
            for q in self.subs:
                q.put((kind, ev))
            if kind == "end":
                self.end_event = ev
                self.subs = []

    def abort_streams(self):
        with self.lock:
            for q in self.subs:
                q.put(("abort", None))
            self.subs = []

    def signal(self, sig):
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass

    def signal_group(self, sig):
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def start_threads(self):
        if self.pty_master is not None:
            fds = [(self.pty_master, "pty")]
        else:
            fds = [(self.popen.stdout.fileno(), "stdout"), (self.popen.stderr.fileno(), "stderr")]
        for fd, field in fds:
            t = threading.Thread(target=self._reader, args=(fd, field), daemon=True)
            t.start()
            self.readers.append(t)
        threading.Thread(target=self._waiter, daemon=True).start()

    def _reader(self, fd, field):
        while True:
            try:
                r, _, _ = select.select([fd], [], [], 0.05)
            except (OSError, ValueError):
                break
            if r:
                try:
                    data = os.read(fd, 32768)  # envd reads <= 32 KiB chunks (§7)
                except OSError:  # EIO on a pty master once the slave is gone
                    break
                if not data:
                    break
                self.publish("data", {"data": {field: data}})
                if self.exit_flag.is_set() and time.monotonic() - self.exit_time > 2.0:
                    break
            elif self.exit_flag.is_set() and time.monotonic() - self.exit_time > 0.1:
                break

    def _waiter(self):
        rc = self.popen.wait()
        self.exit_time = time.monotonic()
        self.exit_flag.set()
        for t in self.readers:
            t.join()
        for f in (self.popen.stdout, self.popen.stderr, self.stdin_file):
            try:
                if f:
                    f.close()
            except OSError:
                pass
        if self.pty_master is not None:
            try:
                os.close(self.pty_master)
            except OSError:
                pass
        if rc >= 0:
            end = {"exit_code": rc, "exited": True, "status": "exit status %d" % rc}
            if rc:
                end["error"] = end["status"]
        else:
            s = "signal: " + GO_SIGNALS.get(-rc, "signal %d" % -rc)
            end = {"exit_code": -1, "exited": False, "status": s, "error": s}
        with self.sb.lock:
            self.sb.procs.pop(self.pid, None)
            self.sb.exited[self.pid] = (self, time.monotonic())
        self.publish("end", {"end": end})


class Watcher:
    """Polling directory watcher (WatchDir / CreateWatcher)."""

    def __init__(self, sb, vpath, host, recursive, include_entry):
        self.sb, self.vpath, self.host = sb, vpath, host
        self.recursive, self.include_entry = recursive, include_entry
        self.lock = threading.Lock()
        self.snap = self._scan()

    def _scan(self):
        snap = {}

        def walk(hdir, rel):
            try:
                names = sorted(os.listdir(hdir))
            except OSError:
                return
            for n in names:
                hp = os.path.join(hdir, n)
                r = rel + n
                try:
                    st = os.lstat(hp)
                except OSError:
                    continue
                snap[r] = (st.st_mtime_ns, st.st_size, stat.S_IMODE(st.st_mode), stat.S_ISDIR(st.st_mode))
                if self.recursive and stat.S_ISDIR(st.st_mode):
                    walk(hp, r + "/")
        walk(self.host, "")
        return snap

    def poll(self):
        with self.lock:
            new = self._scan()
            old, self.snap = self.snap, new
        events = []
        for name in sorted(set(old) | set(new)):
            if name not in old:
                events.append((name, 1))
            elif name not in new:
                events.append((name, 3))
            else:
                o, n = old[name], new[name]
                if (o[0], o[1]) != (n[0], n[1]) and not n[3]:
                    events.append((name, 2))
                elif o[2] != n[2]:
                    events.append((name, 5))
        out = []
        for name, typ in events:
            ev = {"name": name, "type": typ}
            if self.include_entry and typ != 3:
                vp = self.vpath.rstrip("/") + "/" + name
                try:
                    ev["entry"] = self.sb.entry_info(vp, self.sb.host_path(vp))
                except OSError:
                    pass
            out.append(ev)
        return out


class Sandbox:
    def __init__(self, platform, sid, namespace, name, short, template, token, timeout_s,
                 env_vars, metadata, labels, owner, auto_pause, never_timeout, cpu, mem):
        self.platform = platform
        self.id, self.namespace, self.name, self.short = sid, namespace, name, short
        self.template, self.token, self.owner = template, token, owner
        self.env_vars = dict(env_vars or {})
        self.metadata, self.labels = dict(metadata or {}), dict(labels or {})
        self.auto_pause, self.never_timeout = auto_pause, never_timeout
        self.cpu, self.mem = cpu, mem
        self.started = time.time()
        self.end_at = None if never_timeout else self.started + timeout_s
        self.state = "running"
        self.network = None
        self.allow_internet = None
        self.seq = platform.next_seq()
        self.uid = str(uuid.uuid4())
        self.lock = threading.RLock()
        self.procs, self.exited, self.watchers, self.xmeta = {}, {}, {}, {}
        self.root = os.path.join(platform.base_dir, re.sub(r"[^A-Za-z0-9._-]", "_", sid))
        self.fs = os.path.join(self.root, "fs")
        for d in ["root", "tmp", "home"] + ["home/" + u for u in platform.users if u != "root"]:
            os.makedirs(os.path.join(self.fs, d), exist_ok=True)
        self.fs_real = os.path.realpath(self.fs)

    # -- paths ------------------------------------------------------------------
    @staticmethod
    def home_of(user):
        return "/root" if user == "root" else "/home/" + user

    def resolve(self, user, p):
        home = self.home_of(user)
        p = p or ""
        if p in ("", "~"):
            v = home
        elif p.startswith("~/"):
            v = home + p[1:]
        elif p.startswith("/"):
            v = p
        else:
            v = home + "/" + p
        v = posixpath.normpath(v)
        if v.startswith("//"):
            v = "/" + v.lstrip("/")
        return v

    def host_path(self, v):
        rel = v.lstrip("/")
        return os.path.join(self.fs, rel) if rel else self.fs

    def check_inside(self, host):
        real = os.path.realpath(host)
        if real != self.fs_real and not real.startswith(self.fs_real + os.sep):
            raise PathEscape(host)
        return real

    def to_virtual(self, host_real):
        if host_real == self.fs_real:
            return "/"
        if host_real.startswith(self.fs_real + os.sep):
            return host_real[len(self.fs_real):]
        return host_real

    def entry_info(self, vpath, host):
        lst = os.lstat(host)
        sym = None
        if stat.S_ISLNK(lst.st_mode):
            sym = self.to_virtual(os.path.realpath(host))
            try:
                tst = os.stat(host)
                typ, mode = file_type(tst.st_mode), stat.S_IMODE(tst.st_mode) & 0o777
            except OSError:
                typ, mode = 0, 0
        else:
            typ, mode = file_type(lst.st_mode), stat.S_IMODE(lst.st_mode) & 0o777
        d = {"name": posixpath.basename(vpath) or "/", "type": typ, "path": vpath,
             "size": lst.st_size, "mode": mode, "permissions": go_mode_string(lst.st_mode),
             "owner": uname(lst.st_uid), "group": gname(lst.st_gid),
             "modified_time": {"seconds": lst.st_mtime_ns // 10**9, "nanos": lst.st_mtime_ns % 10**9}}
        if sym is not None:
            d["symlink_target"] = sym
        md = self.xmeta.get(vpath)
        if md:
            d["metadata"] = dict(md)
        return d

    # -- processes --------------------------------------------------------------
    def spawn(self, req, user):
        cfg = req.get("process") or {}
        cmd, args, envs = cfg.get("cmd", ""), list(cfg.get("args", [])), dict(cfg.get("envs", {}))
        vcwd = self.resolve(user, cfg.get("cwd", ""))
        hcwd = self.host_path(vcwd)
        try:
            self.check_inside(hcwd)
        except PathEscape:
            raise ConnectError("invalid_argument", "cwd '%s' does not exist" % vcwd)
        if not os.path.isdir(hcwd):
            raise ConnectError("invalid_argument", "cwd '%s' does not exist" % vcwd)
        home_host = self.host_path(self.home_of(user))
        os.makedirs(home_host, exist_ok=True)
        env = {"PATH": os.environ.get("PATH", DEFAULT_PATH), "HOME": home_host, "USER": user, "LOGNAME": user}
        env.update(self.env_vars)
        env.update(envs)
        argv = ["/bin/sh", "-c", 'exec "$@"', "--", cmd] + args
        use_pty = "pty" in req
        master = None
        stdin_file = None
        if use_pty:
            env.setdefault("TERM", "xterm-256color")
            master, slave = os.openpty()
            size = (req.get("pty") or {}).get("size") or {}
            self._set_winsize(master, size)
            try:
                popen = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=hcwd, env=env,
                                         start_new_session=True, close_fds=True)
            finally:
                os.close(slave)
        else:
            want_stdin = req.get("stdin", True)  # absent => open (backwards-compatible default, §7)
            popen = subprocess.Popen(argv, stdin=subprocess.PIPE if want_stdin else subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=hcwd, env=env,
                                     start_new_session=True, bufsize=0)
            stdin_file = popen.stdin
        proc = Proc(self, popen, cfg, req.get("tag"), master, stdin_file)
        q = proc.subscribe()
        with self.lock:
            self.procs[proc.pid] = proc
            if self.state != "running":  # paused meanwhile
                proc.signal_group(signal.SIGSTOP)
        proc.start_threads()
        return proc, q

    @staticmethod
    def _set_winsize(fd, size):
        if fcntl and termios:
            rows, cols = size.get("rows", 24) or 24, size.get("cols", 80) or 80
            try:
                fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
            except OSError:
                pass

    def find_proc(self, selector, include_exited=False):
        selector = selector or {}
        with self.lock:
            self._prune_exited()
            if "tag" in selector:
                tag = selector["tag"]
                for p in self.procs.values():
                    if p.tag == tag:
                        return p, False
                if include_exited:
                    for p, _ in self.exited.values():
                        if p.tag == tag:
                            return p, True
                raise ConnectError("not_found", "process with tag %s not found" % tag)
            pid = selector.get("pid", 0)
            if pid in self.procs:
                return self.procs[pid], False
            if include_exited and pid in self.exited:
                return self.exited[pid][0], True
            raise ConnectError("not_found", "process with pid %d not found" % pid)

    def _prune_exited(self):
        limit = time.monotonic() - self.platform.args.exited_retention_s
        for pid in [p for p, (_, t) in self.exited.items() if t < limit]:
            del self.exited[pid]

    # -- lifecycle ---------------------------------------------------------------
    def pause(self):
        with self.lock:
            self.state = "paused"
            procs = list(self.procs.values())
        for p in procs:
            p.abort_streams()
            p.signal_group(signal.SIGSTOP)

    def resume(self):
        with self.lock:
            self.state = "running"
            procs = list(self.procs.values())
        for p in procs:
            p.signal_group(signal.SIGCONT)

    def destroy(self):
        with self.lock:
            self.state = "killed"
            procs = list(self.procs.values())
        for p in procs:
            p.abort_streams()
            p.signal_group(signal.SIGKILL)
            p.signal_group(signal.SIGCONT)
        shutil.rmtree(self.root, ignore_errors=True)

    def info(self):
        return {"sandboxID": self.id, "namespace": self.namespace, "name": self.name, "state": self.state,
                "template": self.template, "root": self.fs, "token": self.token,
                "endAt": rfc3339(self.end_at), "pids": sorted(self.procs), "owner": self.owner}


###############################################################################
# 5. Platform state: sandboxes, request log, faults, expiry reaper
###############################################################################


class Fault:
    def __init__(self, spec):
        match = spec.get("match", "* .*")
        method, _, rx = match.strip().partition(" ")
        self.method = method.upper() or "*"
        self.rx = re.compile(rx.strip() or ".*")
        self.kind = spec.get("kind", "status")
        if self.kind not in ("drop_mid_stream", "status", "slow", "plain502", "bad_envelope"):
            raise ValueError("unknown fault kind %r" % self.kind)
        self.status = int(spec.get("status", 500))
        self.delay_ms = int(spec.get("delay_ms", 0))
        self.count = int(spec.get("count", 1))
        self.after = int(spec.get("after", 1))
        self.variant = spec.get("variant", "garbage")
        self.body = spec.get("body")
        self.content_type = spec.get("content_type")
        self.id = uuid.uuid4().hex[:8]
        self.spec = spec

    def matches(self, method, path):
        return (self.method in ("*", method)) and self.rx.search(path) is not None


class Platform:
    def __init__(self, args):
        self.args = args
        self.lock = threading.RLock()
        self.sandboxes = {}
        self.requests = []
        self.req_seq = 0
        self.faults = []
        self._seq = 0
        self.users = [u.strip() for u in args.users.split(",") if u.strip()]
        self.own_base = args.root is None
        self.base_dir = args.root or tempfile.mkdtemp(prefix="fake-e2b-")
        os.makedirs(self.base_dir, exist_ok=True)
        self.stopping = threading.Event()
        threading.Thread(target=self._reaper, daemon=True).start()

    def next_seq(self):
        with self.lock:
            self._seq += 1
            return self._seq

    # -- sandboxes ---------------------------------------------------------------
    def new_token(self, wanted=True):
        if not wanted:
            return ""
        return self.args.access_token or secrets.token_hex(16)

    def add_sandbox(self, **kw):
        sb = Sandbox(self, **kw)
        with self.lock:
            self.sandboxes[sb.id] = sb
        log("sandbox %s created (template=%s, token=%s)" % (sb.id, sb.template, "yes" if sb.token else "no"))
        return sb

    def get(self, sid):
        with self.lock:
            return self.sandboxes.get(sid)

    def kill(self, sid):
        with self.lock:
            sb = self.sandboxes.pop(sid, None)
        if sb:
            sb.destroy()
            log("sandbox %s killed" % sid)
        return sb

    def _reaper(self):
        while not self.stopping.wait(0.1):
            now = time.time()
            with self.lock:
                due = [sb for sb in self.sandboxes.values()
                       if sb.state == "running" and sb.end_at is not None and sb.end_at <= now]
            for sb in due:
                if sb.auto_pause:
                    log("sandbox %s timed out -> paused" % sb.id)
                    sb.pause()
                else:
                    log("sandbox %s timed out -> killed" % sb.id)
                    self.kill(sb.id)

    def shutdown(self):
        self.stopping.set()
        with self.lock:
            ids = list(self.sandboxes)
        for sid in ids:
            self.kill(sid)
        if self.own_base:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    # -- request log & faults ---------------------------------------------------------
    def record(self, rec):
        with self.lock:
            self.req_seq += 1
            rec["seq"] = self.req_seq
            self.requests.append(rec)
            if len(self.requests) > 5000:
                del self.requests[:1000]

    def take_fault(self, method, path):
        with self.lock:
            for f in self.faults:
                if f.matches(method, path):
                    if f.count > 0:
                        f.count -= 1
                        if f.count == 0:
                            self.faults.remove(f)
                    return f
        return None


LOG_QUIET = False


def log(msg):
    if not LOG_QUIET:
        sys.stderr.write("[fake-e2b %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
        sys.stderr.flush()


###############################################################################
# 6. HTTP handler: transport helpers, dispatch/routing
###############################################################################

NATIVE_HOST = re.compile(r"^(\d+)-([a-zA-Z0-9\-]+)\.")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-e2b/1.0"

    def version_string(self):
        return self.server_version

    # ---- plumbing ------------------------------------------------------------------
    def log_request(self, code="-", size="-"):
        pass

    def log_message(self, fmt, *a):
        log("%s %s" % (self.address_string(), fmt % a))

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    @property
    def P(self):
        return self.server.platform

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ClientGone()
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while True:
                        t = self.rfile.readline(65537)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def send_response(self, code, message=None):
        self.status = code
        if self.rec is not None:
            self.rec["status"] = code
        super().send_response(code, message)

    def _abort_connection(self):
        self.close_connection = True
        try:
            self.wfile.flush()
        except Exception:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def reply(self, code, body=b"", ctype=None, headers=None):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        f = self.fault
        if f is not None and f.kind == "drop_mid_stream" and body:
            self.wfile.write(body[:len(body) // 2])
            raise Abort()
        if f is not None and f.kind == "bad_envelope" and body:
            body = b"\xff\xff\xff\xff" + body[4:]
        self.wfile.write(body)

    def reply_json(self, code, obj, headers=None, ctype="application/json"):
        self.reply(code, json.dumps(obj, default=_json_default), ctype, headers)

    def reply_text(self, code, text, headers=None):
        self.reply(code, text, "text/plain; charset=utf-8", headers)

    def start_chunked(self, code, headers):
        self.send_response(code)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def write_chunk(self, data):
        if not data:
            return
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        except (BrokenPipeError, ConnectionResetError, OSError):
            raise ClientGone()

    def end_chunked(self):
        try:
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, OSError):
            raise ClientGone()

    # ---- dispatch ------------------------------------------------------------------
    def dispatch(self):
        self.rec, self.fault, self.status = None, None, None
        t0 = time.monotonic()
        u = urlsplit(self.path)
        path, rawq = u.path or "/", u.query
        self.query = parse_qs(rawq, keep_blank_values=True)
        self.rawq = rawq
        host = (self.headers.get("Host") or "").strip().lower()
        self.host_noport = re.sub(r":\d+$", "", host)
        route = "?"
        try:
            self.body = self.read_body()
        except (ClientGone, ValueError):
            self.close_connection = True
            return
        try:
            if path.startswith("/__fake/") or path == "/__fake":
                route = "control"
                return self.control(path)
            route, info = self.classify(path)
            self.rec = {"time": time.time(), "method": self.command, "path": path, "raw_query": rawq,
                        "query": self.query, "host": host,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "route": route, "body_len": len(self.body)}
            if info.get("sandbox_id") is not None:
                self.rec["sandbox_id"] = info["sandbox_id"]
                self.rec["port"] = info.get("port")
                self.rec["upstream_path"] = info.get("upstream_path")
            self.P.record(self.rec)
            f = self.P.take_fault(self.command, path)
            if f is not None:
                self.rec["fault"] = f.kind
                if f.kind == "slow":
                    time.sleep(f.delay_ms / 1000.0)
                elif f.kind == "status":
                    return self.fault_status(f, route, info)
                elif f.kind == "plain502":
                    return self.reply_text(502, self.gw_msg_unhealthy(info.get("sandbox_id") or "unknown"))
                else:
                    self.fault = f
            if route == "management":
                self.management(info["path"])
            elif route == "k8s":
                self.k8s(info["path"])
            elif route == "routing":
                self.reply_text(info["status"], info["message"])
            else:
                self.envd_gateway(info["sandbox_id"], info["port"], info["upstream_path"])
        except Abort:
            self._abort_connection()
        except ClientGone:
            self.close_connection = True
        except Exception:
            log("internal error: %s" % traceback.format_exc())
            if self.status is None:
                try:
                    self.reply_text(500, "fake internal error")
                except Exception:
                    self.close_connection = True
            else:
                self._abort_connection()
        finally:
            if route != "control":
                log("%s %s%s host=%s route=%s -> %s (%.0f ms)" % (
                    self.command, path, "?" + rawq if rawq else "", host, route, self.status,
                    (time.monotonic() - t0) * 1000))

    def classify(self, path):
        """The routing table from the header comment."""
        if getattr(self.server, "k8s_only", False):
            return "k8s", {"path": path[4:] if path.startswith("/k8s/") else path}
        if path.startswith("/k8s/") or path == "/k8s":
            return "k8s", {"path": path[4:] or "/"}
        if path == "/kruise/api" or path.startswith("/kruise/api/"):
            return "management", {"path": path[len("/kruise/api"):] or "/"}
        if path == "/kruise" or path.startswith("/kruise/"):
            segs = path[len("/kruise/"):].split("/", 2)
            if len(segs) < 2 or not segs[0] or not segs[1]:
                return "routing", {"status": 500,
                                   "message": "API Error: failed to map request to sandbox, URL=%s" % self.path}
            sid, port = segs[0], segs[1]
            rest = "/" + (segs[2] if len(segs) > 2 else "")
            if not port.isdigit() or not 0 < int(port) < 65536:
                return "routing", {"status": 400, "sandbox_id": sid,
                                   "message": "API Error: invalid port %s in URL=%s" % (port, self.path)}
            return "envd", {"sandbox_id": sid, "port": int(port), "upstream_path": rest}
        if self.host_noport.startswith("api."):
            return "management", {"path": path}
        hid = self.headers.get("e2b-sandbox-id")
        if hid:
            port = (self.headers.get("e2b-sandbox-port") or str(ENVD_PORT)).strip()
            if not port.isdigit() or not 0 < int(port) < 65536:
                return "routing", {"status": 400, "sandbox_id": hid,
                                   "message": "API Error: invalid port %s for sandbox %s" % (port, hid)}
            return "envd", {"sandbox_id": hid.strip(), "port": int(port), "upstream_path": path}
        m = NATIVE_HOST.match(self.host_noport)
        if m:
            return "envd", {"sandbox_id": m.group(2), "port": int(m.group(1)), "upstream_path": path}
        return "management", {"path": path}

    def gw_msg_unhealthy(self, sid, unknown=False):
        if self.P.args.gateway_errors == "gateway":
            return ("sandbox not found: %s" if unknown else "healthy sandbox not found: %s") % sid
        return "API Error: healthy sandbox %s not found" % sid

    def fault_status(self, f, route, info):
        code = f.status
        if f.body is not None:
            return self.reply(code, f.body, f.content_type or "text/plain; charset=utf-8")
        path = info.get("upstream_path") or ""
        if route == "management":
            return self.api_error(code, "fault injected")
        if route == "k8s":
            return self.reply_json(code, k8s_status(code, "fault injected", "InternalError"))
        if route == "envd" and path.lstrip("/") in RPCS:
            return self.reply_json(code, {"code": HTTP_CODE.get(code, "unknown"), "message": "fault injected"})
        if route == "envd":
            return self.reply_json(code, {"code": code, "message": "fault injected"})
        return self.reply_text(code, "fault injected")

    ###########################################################################
    # 7. Management REST API (§3)
    ###########################################################################

    def api_error(self, code, message):
        rid = uuid.uuid4().hex
        self.reply_json(code, {"code": code, "headers": None, "message": message, "request_id": rid},
                        headers={"X-Request-ID": rid})

    def ok_json(self, code, obj, headers=None):
        h = {"X-Request-ID": uuid.uuid4().hex}
        h.update(headers or {})
        self.reply_json(code, obj, headers=h)

    def no_content(self):
        self.reply(204, b"", None, {"X-Request-ID": uuid.uuid4().hex})

    def json_body(self):
        if self.rec is not None:
            try:
                self.rec["json"] = json.loads(self.body) if self.body else None
            except ValueError:
                pass
        obj = json.loads(self.body.decode("utf-8"))  # raises ValueError
        return obj

    def api_key_ok(self):
        keys = self.P.args.api_key
        if not keys:
            return True, None
        got = self.headers.get("X-API-Key")
        for k in keys:
            if got is not None and (got == k or got == wrap_api_key(k)):
                return True, k
        return False, None

    def sandbox_json(self, sb, token=True, network=False):
        md = dict(sb.metadata)
        md.update(sb.labels)
        md["e2b.agents.kruise.io/sandbox-resource"] = "%s/%s" % (sb.namespace, sb.name)
        d = {"templateID": sb.template, "sandboxID": sb.id, "clientID": "",
             "startedAt": rfc3339(sb.started), "endAt": rfc3339(sb.end_at), "envdVersion": ENVD_VERSION}
        if token and sb.token:
            d["envdAccessToken"] = sb.token
        d.update({"domain": self.P.args.domain, "cpuCount": sb.cpu, "memoryMB": sb.mem, "diskSizeMB": 0,
                  "alias": "", "metadata": md, "state": sb.state})
        if network and sb.network is not None:
            d["network"] = sb.network
        return d

    def method_not_allowed(self, allow):
        self.reply_text(405, "Method Not Allowed\n", {"Allow": allow})

    def management(self, path):
        m = self.command
        sid, action = None, None
        if path == "/health":
            if m not in ("GET", "HEAD"):
                return self.method_not_allowed("GET, HEAD")
            return self.reply_text(200, "OK")
        if path == "/sandboxes":
            if m != "POST":
                return self.method_not_allowed("POST")
            action = "create"
        elif path == "/v2/sandboxes":
            if m not in ("GET", "HEAD"):
                return self.method_not_allowed("GET, HEAD")
            action = "list"
        else:
            mt = re.fullmatch(r"/sandboxes/([^/]+)(?:/(pause|resume|connect|timeout|network))?", path)
            if not mt:
                return self.reply_text(404, "404 page not found\n")
            sid, sub = unquote(mt.group(1)), mt.group(2)
            if sub is None:
                if m in ("GET", "HEAD"):
                    action = "get"
                elif m == "DELETE":
                    action = "kill"
                else:
                    return self.method_not_allowed("DELETE, GET, HEAD")
            elif sub == "network":
                if m != "PUT":
                    return self.method_not_allowed("PUT")
                action = "network"
            else:
                if m != "POST":
                    return self.method_not_allowed("POST")
                action = sub
        ok, key = self.api_key_ok()  # CheckApiKey middleware
        if not ok:
            return self.api_error(401, "Invalid API Key")
        sb = None
        if sid is not None:
            sb = self.P.get(sid)
            if sb is None or (sb.owner is not None and key is not None and sb.owner != key):
                return self.api_error(404, "Sandbox route not found, maybe it is crashed or killed: %s" % sid)
        return getattr(self, "mg_" + action)(sb, key) if sb is not None or sid is None else None

    def _body_fields(self):
        """Go encoding/json matches field names case-insensitively."""
        obj = self.json_body()
        if not isinstance(obj, dict):
            raise ValueError("json: cannot unmarshal %s into Go value of type object" % type(obj).__name__)
        return {k.lower(): v for k, v in obj.items()}, obj

    def mg_create(self, _sb, key):
        A = self.P.args
        try:
            body, raw = self._body_fields()
        except ValueError as e:
            return self.api_error(500, "failed to decode request body: %s" % e)
        tmpl = body.get("templateid")
        known = [t.strip() for t in A.templates.split(",") if t.strip()]
        if not isinstance(tmpl, str) or not tmpl or ("*" not in known and tmpl not in known):
            return self.api_error(400, "Template or Checkpoint not found")
        timeout = body.get("timeout", 0) or 0
        if not isinstance(timeout, int) or isinstance(timeout, bool):
            return self.api_error(500, "json: cannot unmarshal timeout into Go struct field of type int32")
        if timeout == 0:
            timeout = 300
        if timeout < A.min_timeout or timeout > A.max_timeout:
            return self.api_error(400, "timeout should between %d and %d" % (A.min_timeout, A.max_timeout))
        metadata = body.get("metadata") or {}
        env_vars = body.get("envvars") or {}
        if not isinstance(metadata, dict) or not isinstance(env_vars, dict):
            return self.api_error(500, "json: cannot unmarshal metadata/envVars into map[string]string")
        user_md, labels, ext = {}, {}, {}
        for k, v in metadata.items():
            v = str(v)
            if k.startswith("label:"):
                lk = k[len("label:"):]
                err = qualified_name_error(lk)
                if err is None and (len(v) > 63 or not _LABEL_VALUE.fullmatch(v)):
                    err = "label value must be a valid label value"
                if err is None and (lk.startswith("e2b.agents.kruise.io/") or lk.startswith("agents.kruise.io/")):
                    err = "reserved prefix"
                if err:
                    return self.api_error(400, 'invalid metadata key "%s": %s' % (k, err))
                labels[lk] = v
                continue
            if k in EXTENSION_KEYS:
                ext[k] = v
                continue
            err = qualified_name_error(k)
            if err:
                return self.api_error(400, 'invalid metadata key "%s": %s' % (k, err))
            if k.startswith("e2b.agents.kruise.io/") or k.startswith("agents.kruise.io/"):
                return self.api_error(400, 'metadata key "%s" uses a reserved prefix' % k)
            user_md[k] = v
        if A.max_sandboxes is not None:
            with self.P.lock:
                n = len(self.P.sandboxes)
            if n >= A.max_sandboxes:
                return self.api_error(403, "sandbox quota exceeded: %d sandboxes allowed" % A.max_sandboxes)
        cpu = 1
        if "e2b.agents.kruise.io/cpu-request" in ext:
            try:
                cpu = parse_cpu_millis(ext["e2b.agents.kruise.io/cpu-request"]) // 1000
            except ValueError:
                return self.api_error(400, "invalid cpu-request %s" % ext["e2b.agents.kruise.io/cpu-request"])
        network, err = build_network(body.get("allow_internet_access"), body.get("network"))
        if err:
            return self.api_error(400, err)
        skip_init = ext.get("e2b.agents.kruise.io/skip-init-runtime") == "true"
        wants_token = not skip_init and (A.secure_mode == "kruise" or body.get("secure") is True)
        ns = A.namespace
        name = "%s-%s" % (re.sub(r"[^a-z0-9-]", "-", tmpl.lower()).strip("-") or "sandbox", rand_suffix())
        sid = short_id() if A.short_ids else "%s--%s" % (ns, name)
        sb = self.P.add_sandbox(
            sid=sid, namespace=ns, name=name, short=A.short_ids, template=tmpl,
            token=self.P.new_token(wants_token), timeout_s=timeout,
            env_vars={str(k): str(v) for k, v in env_vars.items()}, metadata=user_md, labels=labels,
            owner=key, auto_pause=bool(body.get("autopause")),
            never_timeout=ext.get("e2b.agents.kruise.io/never-timeout") == "true", cpu=cpu, mem=1024)
        sb.allow_internet = body.get("allow_internet_access")
        sb.network = network
        self.ok_json(201, self.sandbox_json(sb))

    def mg_list(self, _sb, key):
        A = self.P.args
        q = self.query
        states = None
        if "state" in q:
            states = set()
            for v in q["state"]:
                for s in v.split(","):
                    s = s.strip()
                    if not s:
                        continue
                    if s not in ("running", "paused"):
                        return self.api_error(400, "invalid state: %s" % s)
                    states.add(s)
        limit = 100
        if "limit" in q:
            try:
                limit = int(q["limit"][0])
            except ValueError:
                return self.api_error(400, "invalid limit: %s" % q["limit"][0])
            if not 1 <= limit <= 100:
                return self.api_error(400, "limit should between 1 and 100")
        cursor = 0
        if q.get("nextToken", [""])[0]:
            tok = q["nextToken"][0]
            try:
                cursor = int(base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4)).decode().split(":")[1])
            except Exception:
                return self.api_error(400, "invalid nextToken: %s" % tok)
        filters = {}
        for k, vals in q.items():
            if k in ("state", "limit", "nextToken"):
                continue
            if k == "metadata":
                for v in vals:
                    for mk, mv in parse_qsl(v, keep_blank_values=True):  # server decodes once more
                        filters[mk] = mv
            else:
                filters[k] = vals[0]
        with self.P.lock:
            sbs = sorted(self.P.sandboxes.values(), key=lambda s: s.seq)
        out = []
        for sb in sbs:
            if sb.seq < cursor:
                continue
            if sb.owner is not None and key is not None and sb.owner != key:
                continue
            if states and sb.state not in states:
                continue
            md = dict(sb.metadata)
            md.update(sb.labels)
            if any(md.get(k) != v for k, v in filters.items()):
                continue
            out.append(sb)
        headers = {}
        if len(out) > limit:
            headers["X-Next-Token"] = base64.urlsafe_b64encode(
                ("seq:%d" % out[limit].seq).encode()).decode().rstrip("=")
            out = out[:limit]
        self.ok_json(200, [self.sandbox_json(sb, token=False) for sb in out], headers)

    def mg_get(self, sb, _key):
        self.ok_json(200, self.sandbox_json(sb, network=True))

    def mg_kill(self, sb, _key):
        self.P.kill(sb.id)
        self.no_content()

    def mg_pause(self, sb, _key):
        if sb.state != "running":
            return self.api_error(409, "sandbox %s is already paused" % sb.id)
        sb.pause()
        self.no_content()

    def _timeout_arg(self):
        fields, _ = self._body_fields()
        t = fields.get("timeout")
        if t is None:
            t = 0
        if not isinstance(t, int) or isinstance(t, bool):
            raise ValueError("json: cannot unmarshal timeout into Go struct field of type int32")
        return t

    def mg_resume(self, sb, _key):
        A = self.P.args
        try:
            t = self._timeout_arg()
        except ValueError as e:
            return self.api_error(400, "invalid request body: %s" % e)
        if sb.state != "paused":
            return self.api_error(409, "sandbox %s is not paused" % sb.id)
        if not sb.never_timeout:
            sb.end_at = time.time() + max(t, A.min_resume_timeout)
        sb.resume()
        self.no_content()

    def mg_connect(self, sb, _key):
        A = self.P.args
        try:
            t = self._timeout_arg()
        except ValueError as e:
            return self.api_error(400, "invalid request body: %s" % e)
        if t < 1 or t > A.max_timeout:
            return self.api_error(400, "timeout should between 0 and %d" % A.max_timeout)
        now = time.time()
        if sb.state == "paused":
            if not sb.never_timeout:
                sb.end_at = now + max(t, A.min_resume_timeout)
            sb.resume()
            return self.ok_json(201, self.sandbox_json(sb))
        if not sb.never_timeout:
            sb.end_at = max(sb.end_at, now + t)
        self.ok_json(200, self.sandbox_json(sb))

    def mg_timeout(self, sb, _key):
        try:
            t = self._timeout_arg()
            if t < 0 or t > self.P.args.max_timeout:
                raise ValueError("timeout should between 0 and %d" % self.P.args.max_timeout)
        except ValueError as e:
            return self.api_error(500, str(e))
        if sb.state != "running":
            return self.api_error(500, "sandbox %s is not running" % sb.id)
        if not sb.never_timeout:
            sb.end_at = time.time() + t
        self.no_content()

    def mg_network(self, sb, _key):
        # kruise pkg/servers/e2b/network.go UpdateSandboxNetwork: replace semantics
        # (omitted fields clear), allow_internet_access=false -> denyOut 0.0.0.0/0,
        # denyOut takes only IPs/CIDRs (400), 204.
        try:
            body = self.json_body()
            if not isinstance(body, dict):
                raise ValueError("expected object")
        except ValueError as e:
            return self.api_error(400, "Failed to decode request body: %s" % e)
        network, err = build_network(body.get("allow_internet_access"),
                                     {k: body[k] for k in ("allowOut", "denyOut") if k in body})
        if err:
            return self.api_error(400, err)
        if sb.state != "running":
            return self.api_error(409, "sandbox %s is not running" % sb.id)
        sb.network = network
        sb.allow_internet = body.get("allow_internet_access")
        self.no_content()

    ###########################################################################
    # 8. Gateway + envd HTTP (§4, §5, §9)
    ###########################################################################

    def envd_gateway(self, sid, port, upath):
        sb = self.P.get(sid)
        if sb is None:
            return self.reply_text(502, self.gw_msg_unhealthy(sid, unknown=True))
        if sb.state != "running":
            return self.reply_text(502, self.gw_msg_unhealthy(sid))
        if self.P.args.gateway_auth and sb.token and self.headers.get("X-Access-Token") != sb.token:
            return self.reply_text(401, "unauthorized: invalid or missing access token")
        if port != self.P.args.envd_port:
            return self.reply_text(503, "upstream connect error or disconnect/reset before headers. "
                                        "reset reason: connection failure")
        self.sb = sb
        m = self.command
        exempt = (m == "GET" and upath == "/health") or upath == "/files" or (m == "POST" and upath == "/init")
        if sb.token and not exempt and self.headers.get("X-Access-Token") != sb.token:
            return self.reply_json(401, {"code": 401, "message": "unauthorized access, please provide a valid "
                                                                 "access token or method signing if supported"})
        rpc = upath.lstrip("/")
        if rpc in RPCS:
            return self.connect_rpc(sb, rpc)
        if upath == "/health":
            if m != "GET":
                return self.method_not_allowed("GET")
            return self.reply(204)
        if upath == "/files":
            if m == "GET":
                return self.files_get(sb)
            if m == "POST":
                return self.files_post(sb)
            return self.method_not_allowed("GET, POST")
        if upath == "/envs" and m == "GET":
            return self.reply_json(200, sb.env_vars)
        if upath == "/metrics" and m == "GET":
            return self.reply_json(200, {"ts": int(time.time()), "cpu_count": sb.cpu or 1, "cpu_used_pct": 0.0,
                                         "mem_total": sb.mem << 20, "mem_used": 64 << 20,
                                         "mem_total_mib": sb.mem, "mem_used_mib": 64,
                                         "disk_used": 0, "disk_total": 1 << 30})
        if upath == "/init" and m == "POST":
            try:
                body = json.loads(self.body or b"{}")
            except ValueError:
                return self.reply_json(400, {"code": 400, "message": "invalid JSON body"})
            if isinstance(body.get("envVars"), dict):
                sb.env_vars.update({str(k): str(v) for k, v in body["envVars"].items()})
            if "accessToken" in body:
                sb.token = body["accessToken"] or ""
            return self.reply(204)
        return self.reply_text(404, "404 page not found\n")

    def envd_user_from_basic(self):
        """§5: Authorization: Basic base64("<user>:"); absent -> root."""
        h = self.headers.get("Authorization")
        if not h:
            return "root"
        scheme, _, cred = h.partition(" ")
        if scheme.lower() != "basic":
            raise ConnectError("unauthenticated", "invalid authorization header")
        try:
            user = base64.b64decode(cred.strip()).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            raise ConnectError("unauthenticated", "invalid authorization header")
        if user not in self.P.users:
            raise ConnectError("unauthenticated", "invalid username: '%s'" % user)
        return user

    def files_auth(self, sb, op):
        """-> (user, error reply sent?)"""
        path = self.query.get("path", [""])[0]
        username = self.query.get("username", [""])[0]
        if sb.token:
            hdr = self.headers.get("X-Access-Token")
            if hdr is not None:
                if hdr != sb.token:
                    self.reply_json(401, {"code": 401, "message": "access token present in header but does not match"})
                    return None
            else:
                sig = self.query.get("signature", [""])[0]
                if not sig:
                    self.reply_json(401, {"code": 401, "message": "missing signature query parameter"})
                    return None
                exp = self.query.get("signature_expiration", [""])[0]
                raw = "%s:%s:%s:%s" % (path, op, username, sb.token) + (":" + exp if exp else "")
                want = "v1_" + base64.b64encode(hashlib.sha256(raw.encode()).digest()).decode().rstrip("=")
                if sig != want:
                    self.reply_json(401, {"code": 401, "message": "invalid signature"})
                    return None
                if exp:
                    try:
                        expired = int(exp) < time.time()
                    except ValueError:
                        expired = True
                    if expired:
                        self.reply_json(401, {"code": 401, "message": "signature is already expired"})
                        return None
        user = username or "root"
        if user not in self.P.users:
            self.reply_json(401, {"code": 401, "message": "error looking up user '%s': user: unknown user %s"
                                                          % (user, user)})
            return None
        return user

    def files_get(self, sb):
        user = self.files_auth(sb, "read")
        if user is None:
            return
        v = sb.resolve(user, self.query.get("path", [""])[0])
        host = sb.host_path(v)
        try:
            sb.check_inside(host)
        except PathEscape:
            return self.reply_json(400, {"code": 400, "message": "path '%s' is outside the sandbox" % v})
        if not os.path.exists(host):
            return self.reply_json(404, {"code": 404, "message": "path '%s' does not exist" % v})
        if os.path.isdir(host):
            return self.reply_json(400, {"code": 400, "message": "path '%s' is a directory" % v})
        enc = "identity" if self.P.args.no_gzip else accepts_gzip(self.headers.get("Accept-Encoding"))
        if enc is None:
            return self.reply_json(406, {"code": 406, "message": "no acceptable encoding found, supported: "
                                                                 "[identity, gzip]"})
        st = os.stat(host)
        size = st.st_size
        name = posixpath.basename(v)
        ctype = mimetypes.guess_type(name)[0]
        with open(host, "rb") as fh:
            if ctype is None:
                head = fh.read(512)
                fh.seek(0)
                try:
                    head.decode("utf-8")
                    ctype = "application/octet-stream" if b"\0" in head else "text/plain; charset=utf-8"
                except UnicodeDecodeError:
                    ctype = "application/octet-stream"
            headers = {"Content-Type": ctype, "Content-Disposition": 'inline; filename="%s"' % name,
                       "Last-Modified": http_date(st.st_mtime), "Accept-Ranges": "bytes"}
            start, end, code = 0, size - 1, 200
            rng = self.headers.get("Range")
            if rng and enc == "identity":
                mr = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", rng)
                if mr and (mr.group(1) or mr.group(2)):
                    if mr.group(1):
                        start = int(mr.group(1))
                        end = min(int(mr.group(2)), size - 1) if mr.group(2) else size - 1
                    else:
                        start, end = max(0, size - int(mr.group(2))), size - 1
                    if start >= size or start > end:
                        return self.reply_text(416, "invalid range: failed to overlap\n",
                                               {"Content-Range": "bytes */%d" % size})
                    code = 206
                    headers["Content-Range"] = "bytes %d-%d/%d" % (start, end, size)
            fh.seek(start)
            remaining = end - start + 1 if size else 0
            if enc == "gzip":
                headers["Content-Encoding"] = "gzip"
                headers["Vary"] = "Accept-Encoding"
                self.start_chunked(200, headers)
                comp = zlib.compressobj(6, zlib.DEFLATED, 31)
                sent = 0
                while True:
                    data = fh.read(65536)
                    if not data:
                        break
                    self.write_chunk(comp.compress(data))
                    sent += 1
                    if self.fault is not None and self.fault.kind == "drop_mid_stream" and sent >= self.fault.after:
                        raise Abort()
                self.write_chunk(comp.flush())
                return self.end_chunked()
            self.send_response(code)
            for k, val in headers.items():
                self.send_header(k, val)
            self.send_header("Content-Length", str(remaining))
            self.end_headers()
            drop_at = remaining // 2 if (self.fault is not None and self.fault.kind == "drop_mid_stream") else None
            sent = 0
            while remaining > 0:
                data = fh.read(min(65536, remaining))
                if not data:
                    break
                if drop_at is not None and sent + len(data) > drop_at:
                    self.wfile.write(data[:drop_at - sent])
                    raise Abort()
                try:
                    self.wfile.write(data)
                except OSError:
                    raise ClientGone()
                sent += len(data)
                remaining -= len(data)

    def files_post(self, sb):
        user = self.files_auth(sb, "write")
        if user is None:
            return
        body = self.body
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError, zlib.error):
                return self.reply_json(400, {"code": 400, "message": "invalid gzip request body"})
        meta = {}
        for k, val in self.headers.items():
            if k.lower().startswith("x-metadata-"):
                mk = k[len("x-metadata-"):].lower()
                if mk in meta:
                    continue
                if not mk or any(not 0x20 <= ord(c) <= 0x7E for c in mk + val):
                    return self.reply_json(400, {"code": 400, "message": "invalid metadata header %s" % k})
                meta[mk] = val
        qpath = self.query.get("path", [""])[0]
        ctype, params = parse_header_params(self.headers.get("Content-Type", ""))
        files = []
        if ctype == "multipart/form-data":
            if "boundary" not in params:
                return self.reply_json(400, {"code": 400, "message": "missing multipart boundary"})
            try:
                parts = parse_multipart(body, params["boundary"])
            except ValueError as e:
                return self.reply_json(400, {"code": 400, "message": "error parsing multipart form: %s" % e})
            for hdrs, data in parts:
                _, cd = parse_header_params(hdrs.get("content-disposition", ""))
                if cd.get("name") != "file":
                    continue
                target = qpath or cd.get("filename", "")
                if not target:
                    return self.reply_json(400, {"code": 400, "message": "no path given for the uploaded file"})
                files.append((target, data))
            if not files:
                return self.reply_json(400, {"code": 400, "message": "no file part in the multipart form"})
        elif ctype == "application/octet-stream":
            if not qpath:
                return self.reply_json(400, {"code": 400, "message": "path query parameter is required for "
                                                                     "application/octet-stream uploads"})
            files.append((qpath, body))
        else:
            return self.reply_json(400, {"code": 400, "message": "unsupported content type: %s" % (ctype or "none")})
        resolved, seen = [], set()
        for target, data in files:
            v = sb.resolve(user, target)
            if v in seen:
                return self.reply_json(400, {"code": 400, "message": "cannot upload multiple files to the same "
                                                                     "path '%s'" % v})
            seen.add(v)
            resolved.append((v, data))
        out = []
        for v, data in resolved:
            host = sb.host_path(v)
            try:
                sb.check_inside(os.path.dirname(host))
                if os.path.lexists(host):
                    sb.check_inside(host)
            except PathEscape:
                return self.reply_json(400, {"code": 400, "message": "path '%s' is outside the sandbox" % v})
            if os.path.isdir(host):
                return self.reply_json(400, {"code": 400, "message": "path '%s' is a directory" % v})
            try:
                os.makedirs(os.path.dirname(host), exist_ok=True)
                with open(host, "wb") as fh:
                    fh.write(data)
            except NotADirectoryError:
                return self.reply_json(400, {"code": 400, "message": "path '%s' has a parent that is not a "
                                                                     "directory" % v})
            except OSError as e:
                if e.errno == 28:
                    return self.reply_json(507, {"code": 507, "message": "not enough disk space available"})
                return self.reply_json(500, {"code": 500, "message": "error writing file '%s': %s" % (v, e)})
            with sb.lock:
                if meta:
                    sb.xmeta[v] = dict(meta)
                else:
                    sb.xmeta.pop(v, None)
            item = {"path": v, "name": posixpath.basename(v), "type": "file"}
            if meta:
                item["metadata"] = dict(meta)
            out.append(item)
        self.reply_json(200, out)

    ###########################################################################
    # 9. Connect-RPC server (§6) and the Process / Filesystem services (§7, §8)
    ###########################################################################

    def connect_rpc(self, sb, rpc):
        kind, req_t, resp_t, meth = RPCS[rpc]
        self.rec["rpc"] = rpc
        if self.command != "POST":
            return self.method_not_allowed("POST")
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if kind == "unary":
            codecs = {"application/proto": "proto", "application/json": "json"}
        else:
            codecs = {"application/connect+proto": "proto", "application/connect+json": "json"}
        if ctype not in codecs:
            return self.reply(415, b"", None, {"Accept-Post": ", ".join(codecs)})
        codec = codecs[ctype]
        gz_ok = not self.P.args.no_gzip
        # deadline
        deadline = None
        tmo = self.headers.get("Connect-Timeout-Ms")
        tmo_err = None
        if tmo is not None:
            if not re.fullmatch(r"\d{1,10}", tmo.strip()):
                tmo_err = ConnectError("invalid_argument", "protocol error: invalid timeout %r" % tmo)
            else:
                deadline = time.monotonic() + int(tmo) / 1000.0
        if kind == "unary":
            return self.connect_unary(sb, req_t, resp_t, meth, codec, ctype, tmo_err,
                                      gz_ok and "gzip" in self.headers.get("Accept-Encoding", "").lower())
        gz = gz_ok and "gzip" in self.headers.get("Connect-Accept-Encoding", "").lower()
        sw = StreamWriter(self, resp_t, codec, ctype, gz, self.fault)
        try:
            if tmo_err:
                raise tmo_err
            user = self.envd_user_from_basic()
            in_gz = self.headers.get("Connect-Content-Encoding", "").lower() == "gzip"
            try:
                envs = read_envelopes(self.body)
                msgs = []
                for flags, payload in envs:
                    if flags & FLAG_COMPRESSED:
                        if not in_gz:
                            raise ProtoError("compressed message without Connect-Content-Encoding")
                        payload = gzip.decompress(payload)
                    msgs.append(self.decode_msg(req_t, payload, codec))
            except (ProtoError, OSError, ValueError) as e:
                self.rec["decode_error"] = str(e)
                raise ConnectError("invalid_argument", "unmarshal into %s: %s" % (req_t, e))
            if kind == "server":
                if len(msgs) != 1:
                    raise ConnectError("unimplemented" if not msgs else "invalid_argument",
                                       "protocol error: expected exactly one request message, got %d" % len(msgs))
                self.rec["message"] = msgs[0]
                getattr(self, meth)(sb, user, msgs[0], sw, deadline)
            else:
                self.rec["messages"] = msgs
                getattr(self, meth)(sb, user, msgs, sw)
            sw.end()
        except ConnectError as e:
            sw.end(e)

    def decode_msg(self, tname, payload, codec):
        if codec == "json":
            return from_json(tname, json.loads(payload.decode("utf-8") or "{}"))
        return decode(tname, payload)

    def connect_unary(self, sb, req_t, resp_t, meth, codec, ctype, tmo_err, gz):
        def err(e):
            self.reply_json(CODE_HTTP.get(e.code, 500), e.body())
        try:
            if tmo_err:
                raise tmo_err
            user = self.envd_user_from_basic()
            body = self.body
            if self.headers.get("Content-Encoding", "").lower() == "gzip":
                body = gzip.decompress(body)
            try:
                msg = self.decode_msg(req_t, body, codec)
            except (ProtoError, ValueError) as e:
                self.rec["decode_error"] = str(e)
                raise ConnectError("invalid_argument", "unmarshal into %s: %s" % (req_t, e))
            self.rec["message"] = msg
            resp = getattr(self, meth)(sb, user, msg)
        except ConnectError as e:
            return err(e)
        except (OSError, EOFError) as e:
            return err(ConnectError("internal", str(e)))
        out = encode(resp_t, resp) if codec == "proto" else json.dumps(to_json(resp_t, resp)).encode()
        headers = {}
        if gz and out:
            out = gzip.compress(out)
            headers["Content-Encoding"] = "gzip"
        self.reply(200, out, ctype, headers)

    # ---- process service --------------------------------------------------------
    def keepalive_interval(self):
        h = self.headers.get("Keepalive-Ping-Interval")
        try:
            v = float(h) if h is not None else None
            if v is not None and v > 0:
                return v
        except ValueError:
            pass
        return self.P.args.keepalive_s

    def rpc_start(self, sb, user, req, sw, deadline):
        proc, q = sb.spawn(req, user)
        log("sandbox %s: started pid %d: %s %s" % (sb.id, proc.pid, proc.config.get("cmd"),
                                                   proc.config.get("args", [])))
        try:
            self.pump_process(sw, proc, q, deadline, kill_on_deadline=True)
        finally:
            proc.unsubscribe(q)

    def rpc_connect(self, sb, user, req, sw, deadline):
        proc, ended = sb.find_proc(req.get("process"),
                                   include_exited=self.P.args.connect_after_exit == "replay")
        q = None if ended else proc.subscribe()
        if q is None:  # exited: envd 0.6.13 replays start + end for a while
            if self.P.args.connect_after_exit != "replay":
                raise ConnectError("not_found", "process with pid %d not found" % proc.pid)
            sw.send({"event": {"start": {"pid": proc.pid}}})
            sw.send({"event": proc.end_event})
            return
        try:
            self.pump_process(sw, proc, q, deadline, kill_on_deadline=False)
        finally:
            proc.unsubscribe(q)

    def pump_process(self, sw, proc, q, deadline, kill_on_deadline):
        ka = self.keepalive_interval()
        last = time.monotonic()
        while True:
            now = time.monotonic()
            wait = ka - (now - last)
            if deadline is not None:
                wait = min(wait, deadline - now)
            try:
                kind, ev = q.get(timeout=max(0.0, wait))
            except queue.Empty:
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    if kill_on_deadline:
                        proc.signal(signal.SIGKILL)
                    raise ConnectError("deadline_exceeded", "context deadline exceeded")
                if now - last >= ka:
                    sw.send({"event": {"keepalive": {}}})
                    last = now
                continue
            if kind == "abort":
                raise Abort()
            sw.send({"event": ev})
            last = time.monotonic()
            if kind == "end":
                return

    def rpc_list(self, sb, user, req):
        with sb.lock:
            procs = sorted(sb.procs.values(), key=lambda p: p.pid)
        return {"processes": [p.info() for p in procs]}

    def _write_input(self, proc, inp):
        if "pty" in inp:
            if proc.pty_master is None:
                raise ConnectError("internal", "error writing to pty: process is not a pty")
            fd = proc.pty_master
            data = inp["pty"]
            what = "pty"
        else:
            if proc.pty_master is not None:
                fd, data, what = proc.pty_master, inp.get("stdin", b""), "pty"
            else:
                if proc.stdin_file is None or proc.stdin_file.closed:
                    raise ConnectError("internal", "error writing to stdin: stdin is not open")
                fd, data, what = proc.stdin_file.fileno(), inp.get("stdin", b""), "stdin"
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
        except OSError as e:
            raise ConnectError("internal", "error writing to %s: %s" % (what, e.strerror or e))

    def rpc_send_input(self, sb, user, req):
        proc, _ = sb.find_proc(req.get("process"))
        self._write_input(proc, req.get("input") or {})
        return {}

    def rpc_stream_input(self, sb, user, msgs, sw):
        proc = None
        for m in msgs:
            if "start" in m:
                proc, _ = sb.find_proc((m["start"] or {}).get("process"))
            elif "data" in m:
                if proc is None:
                    raise ConnectError("failed_precondition", "no process selected: send a start event first")
                self._write_input(proc, (m["data"] or {}).get("input") or {})
        sw.send({})

    def rpc_send_signal(self, sb, user, req):
        proc, _ = sb.find_proc(req.get("process"))
        sig = req.get("signal", 0)
        if sig == 15:
            proc.signal(signal.SIGTERM)
        elif sig == 9:
            proc.signal(signal.SIGKILL)
        else:
            raise ConnectError("unimplemented", "invalid signal: %s" % sig)
        return {}

    def rpc_close_stdin(self, sb, user, req):
        proc, _ = sb.find_proc(req.get("process"))
        if proc.pty_master is not None:
            raise ConnectError("failed_precondition", "cannot close stdin for PTY process; send Ctrl+D (0x04) instead")
        if proc.stdin_file is not None and not proc.stdin_file.closed:
            try:
                proc.stdin_file.close()
            except OSError:
                pass
        return {}

    def rpc_update(self, sb, user, req):
        proc, _ = sb.find_proc(req.get("process"))
        if "pty" in req:
            if proc.pty_master is None:
                raise ConnectError("failed_precondition", "process is not a pty")
            sb._set_winsize(proc.pty_master, (req["pty"] or {}).get("size") or {})
        return {}

    # ---- filesystem service -----------------------------------------------------
    def _fs_path(self, sb, user, p):
        v = sb.resolve(user, p)
        host = sb.host_path(v)
        try:
            sb.check_inside(host)
        except PathEscape:
            raise ConnectError("permission_denied", "path '%s' escapes the sandbox root" % v)
        return v, host

    def rpc_stat(self, sb, user, req):
        v, host = self._fs_path(sb, user, req.get("path", ""))
        if not os.path.lexists(host):
            raise ConnectError("not_found", "file not found: %s" % v)
        return {"entry": sb.entry_info(v, host)}

    def rpc_make_dir(self, sb, user, req):
        v, host = self._fs_path(sb, user, req.get("path", ""))
        if os.path.lexists(host):
            if os.path.isdir(host):
                raise ConnectError("already_exists", "directory already exists: %s" % v)
            raise ConnectError("invalid_argument", "path already exists but is not a directory: %s" % v)
        try:
            os.makedirs(host)
        except NotADirectoryError:
            raise ConnectError("invalid_argument", "a parent of %s is not a directory" % v)
        except OSError as e:
            raise ConnectError("internal", "error creating directory %s: %s" % (v, e.strerror))
        return {"entry": sb.entry_info(v, host)}

    def rpc_move(self, sb, user, req):
        sv, shost = self._fs_path(sb, user, req.get("source", ""))
        dv, dhost = self._fs_path(sb, user, req.get("destination", ""))
        if not os.path.lexists(shost):
            raise ConnectError("not_found", "source file not found: %s" % sv)
        try:
            os.makedirs(os.path.dirname(dhost), exist_ok=True)
            os.rename(shost, dhost)
        except OSError as e:
            raise ConnectError("internal", "error renaming %s to %s: %s" % (sv, dv, e.strerror))
        with sb.lock:
            for k in [k for k in sb.xmeta if k == sv or k.startswith(sv.rstrip("/") + "/")]:
                sb.xmeta[dv + k[len(sv):]] = sb.xmeta.pop(k)
        return {"entry": sb.entry_info(dv, dhost)}

    def rpc_list_dir(self, sb, user, req):
        v, host = self._fs_path(sb, user, req.get("path", ""))
        depth = req.get("depth", 0) or 1
        if not os.path.lexists(host):
            raise ConnectError("not_found", "path not found: %s" % v)
        real = os.path.realpath(host)  # follows a symlinked root (already checked inside)
        if not os.path.isdir(real):
            raise ConnectError("invalid_argument", "path is not a directory: %s" % v)
        entries = []

        def walk(hdir, vdir, level):
            for n in sorted(os.listdir(hdir)):
                hp, vp = os.path.join(hdir, n), vdir.rstrip("/") + "/" + n
                try:
                    entries.append(sb.entry_info(vp, hp))
                    st = os.lstat(hp)
                except OSError:
                    continue
                if level < depth and stat.S_ISDIR(st.st_mode):
                    walk(hp, vp, level + 1)
        walk(real, v, 1)
        return {"entries": entries}

    def rpc_remove(self, sb, user, req):
        v = sb.resolve(user, req.get("path", ""))
        if v == "/":
            raise ConnectError("invalid_argument", "refusing to remove the sandbox root")
        host = sb.host_path(v)
        parent_real = os.path.realpath(os.path.dirname(host))
        if parent_real != sb.fs_real and not parent_real.startswith(sb.fs_real + os.sep):
            raise ConnectError("permission_denied", "path '%s' escapes the sandbox root" % v)
        if os.path.islink(host) or os.path.isfile(host):
            os.unlink(host)
        elif os.path.isdir(host):
            shutil.rmtree(host, ignore_errors=True)
        with sb.lock:
            for k in [k for k in sb.xmeta if k == v or k.startswith(v.rstrip("/") + "/")]:
                del sb.xmeta[k]
        return {}

    def _new_watcher(self, sb, user, req):
        v, host = self._fs_path(sb, user, req.get("path", ""))
        if not os.path.exists(host):
            raise ConnectError("not_found", "path %s not found" % v)
        if not os.path.isdir(host):
            raise ConnectError("invalid_argument", "path %s not a directory" % v)
        return Watcher(sb, v, host, bool(req.get("recursive")), bool(req.get("include_entry")))

    def rpc_watch_dir(self, sb, user, req, sw, deadline):
        w = self._new_watcher(sb, user, req)
        sw.send({"start": {}})
        ka = self.keepalive_interval()
        last = time.monotonic()
        while True:
            time.sleep(0.1)
            if sb.state != "running":
                raise Abort()
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise ConnectError("deadline_exceeded", "context deadline exceeded")
            for ev in w.poll():
                sw.send({"filesystem": ev})
                last = time.monotonic()
            if now - last >= ka:
                sw.send({"keepalive": {}})
                last = now

    def rpc_create_watcher(self, sb, user, req):
        w = self._new_watcher(sb, user, req)
        wid = uuid.uuid4().hex
        with sb.lock:
            sb.watchers[wid] = w
        return {"watcher_id": wid}

    def rpc_get_watcher_events(self, sb, user, req):
        with sb.lock:
            w = sb.watchers.get(req.get("watcher_id", ""))
        if w is None:
            raise ConnectError("not_found", "watcher with id %s not found" % req.get("watcher_id", ""))
        return {"events": w.poll()}

    def rpc_remove_watcher(self, sb, user, req):
        with sb.lock:
            w = sb.watchers.pop(req.get("watcher_id", ""), None)
        if w is None:
            raise ConnectError("not_found", "watcher with id %s not found" % req.get("watcher_id", ""))
        return {}

    ###########################################################################
    # 10. Fake Kubernetes API (§2.3)
    ###########################################################################

    def k8s(self, path):
        tok = self.P.args.k8s_token
        cn = self.k8s_client_cn()
        if cn is not None:
            self.rec["k8s_client_cn"] = cn  # kube-apiserver: the CN is the user name
        elif tok and self.headers.get("Authorization", "") != "Bearer " + tok:
            return self.reply_json(401, k8s_status(401, "Unauthorized", "Unauthorized"))
        if self.command != "GET":
            return self.reply_json(405, k8s_status(405, "the server does not allow this method on the requested "
                                                        "resource", "MethodNotAllowed"))
        if path == "/version":
            return self.reply_json(200, {"major": "1", "minor": "30", "gitVersion": "v1.30.0-fake",
                                         "platform": "linux/amd64"})
        m = re.fullmatch(r"/apis/agents\.kruise\.io/v1alpha1/namespaces/([^/]+)/sandboxes(?:/([^/]+))?", path)
        if not m:
            return self.reply_json(404, k8s_status(404, "the server could not find the requested resource",
                                                   "NotFound"))
        ns, name = m.group(1), m.group(2)
        with self.P.lock:
            sbs = [sb for sb in self.P.sandboxes.values() if sb.namespace == ns]
        if name is None:
            return self.reply_json(200, {"apiVersion": "agents.kruise.io/v1alpha1", "kind": "SandboxList",
                                         "metadata": {"resourceVersion": "1"},
                                         "items": [self.k8s_object(sb) for sb in sbs]})
        for sb in sbs:
            if sb.name == name:
                return self.reply_json(200, self.k8s_object(sb))
        st = k8s_status(404, 'sandboxes.agents.kruise.io "%s" not found' % name, "NotFound")
        st["details"] = {"name": name, "group": "agents.kruise.io", "kind": "sandboxes"}
        return self.reply_json(404, st)

    def k8s_client_cn(self):
        """Subject CN of a verified client certificate (mutual TLS), or None."""
        getpeercert = getattr(self.connection, "getpeercert", None)
        peer = getpeercert() if getpeercert else None
        if not peer:
            return None
        for rdn in peer.get("subject", ()):
            for k, v in rdn:
                if k == "commonName":
                    return v
        return ""

    def k8s_object(self, sb):
        labels = dict(sb.labels)
        if sb.short:
            labels["agents.kruise.io/sandbox-id"] = sb.id
        ann = dict(sb.metadata)
        if sb.token:
            ann["agents.kruise.io/runtime-access-token"] = sb.token
        return {"apiVersion": "agents.kruise.io/v1alpha1", "kind": "Sandbox",
                "metadata": {"name": sb.name, "namespace": sb.namespace, "uid": sb.uid, "resourceVersion": "1",
                             "generation": 1, "creationTimestamp": rfc3339(sb.started),
                             "labels": labels, "annotations": ann},
                "spec": {"paused": sb.state == "paused", "template": {"name": sb.template}},
                "status": {"phase": "Paused" if sb.state == "paused" else "Running",
                           "podInfo": {"podIP": "127.0.0.1", "nodeName": "fake-node"}}}

    ###########################################################################
    # 11. Test-control API (/__fake/)
    ###########################################################################

    def control(self, path):
        P, m = self.P, self.command
        try:
            body = json.loads(self.body) if self.body else {}
        except ValueError:
            return self.reply_json(400, {"error": "invalid JSON"})
        if path == "/__fake/health":
            return self.reply_json(200, {"ok": True})
        if path == "/__fake/requests" and m == "GET":
            since = int(self.query.get("since", ["0"])[0] or 0)
            with P.lock:
                data = json.dumps([r for r in P.requests if r["seq"] > since], default=_json_default)
            return self.reply(200, data, "application/json")
        if path == "/__fake/reset" and m == "POST":
            with P.lock:
                P.requests.clear()
                P.faults.clear()
                ids = [] if body.get("keep_sandboxes") else list(P.sandboxes)
            for sid in ids:
                P.kill(sid)
            return self.reply_json(200, {"ok": True})
        if path == "/__fake/fault":
            if m == "DELETE":
                with P.lock:
                    P.faults.clear()
                return self.reply_json(200, {"ok": True})
            if m == "POST":
                try:
                    f = Fault(body)
                except (ValueError, re.error, TypeError) as e:
                    return self.reply_json(400, {"error": str(e)})
                with P.lock:
                    P.faults.append(f)
                return self.reply_json(200, {"id": f.id})
        if path == "/__fake/faults" and m == "GET":
            with P.lock:
                return self.reply_json(200, [dict(f.spec, id=f.id, remaining=f.count) for f in P.faults])
        if path == "/__fake/sandbox" and m == "POST":
            ns = body.get("namespace") or P.args.namespace
            tmpl = body.get("template") or "base"
            name = body.get("name") or "%s-%s" % (re.sub(r"[^a-z0-9-]", "-", tmpl.lower()), rand_suffix())
            short = body.get("shortId", True)
            sid = body.get("sandboxID") or (short_id() if short else "%s--%s" % (ns, name))
            if P.get(sid):
                return self.reply_json(409, {"error": "sandbox %s exists" % sid})
            token = body.get("token")
            token = P.new_token() if token is None else token
            timeout = body.get("timeout", 300)
            if "timeoutMs" in body:
                timeout = body["timeoutMs"] / 1000.0
            md = body.get("metadata") or {}
            sb = P.add_sandbox(sid=sid, namespace=ns, name=name, short=bool(short), template=tmpl, token=token,
                               timeout_s=timeout, env_vars=body.get("envVars"), metadata=md,
                               labels=body.get("labels"), owner=body.get("apiKey"),
                               auto_pause=bool(body.get("autoPause")),
                               never_timeout=md.get("e2b.agents.kruise.io/never-timeout") == "true", cpu=1, mem=1024)
            if body.get("state") == "paused":
                sb.pause()
            return self.reply_json(201, {"sandboxID": sb.id, "envdAccessToken": sb.token, "namespace": ns,
                                         "name": name, "root": sb.fs, "domain": P.args.domain})
        if path == "/__fake/sandboxes" and m == "GET":
            with P.lock:
                sbs = list(P.sandboxes.values())
            return self.reply_json(200, [sb.info() for sb in sbs])
        if path == "/__fake/expire" and m == "POST":
            sb = P.get(body.get("sandboxID", ""))
            if sb is None:
                return self.reply_json(404, {"error": "no such sandbox"})
            sb.end_at = time.time() + int(body.get("in_ms", 0)) / 1000.0
            return self.reply_json(200, {"ok": True, "endAt": rfc3339(sb.end_at)})
        return self.reply_json(404, {"error": "unknown control endpoint %s %s" % (m, path)})


EXTENSION_KEYS = {"e2b.agents.kruise.io/never-timeout", "e2b.agents.kruise.io/skip-init-runtime",
                  "e2b.agents.kruise.io/claim-timeout-seconds", "e2b.agents.kruise.io/wait-ready-timeout-seconds",
                  "e2b.agents.kruise.io/image", "e2b.agents.kruise.io/cpu-request"}


def build_network(allow_internet, net):
    """kruise validateAndBuildNetworkConfig -> (network dict or None, error or None)."""
    net = dict(net) if isinstance(net, dict) else {}
    allow = [x for x in (net.get("allowOut") or []) if isinstance(x, str)]
    deny = [x for x in (net.get("denyOut") or []) if isinstance(x, str)]
    if allow_internet is False and "0.0.0.0/0" not in deny:
        deny.append("0.0.0.0/0")
    if not allow and not deny:
        return None, None
    for entry in deny:
        try:
            if "/" in entry:
                ipaddress.ip_network(entry, strict=False)
            else:
                ipaddress.ip_address(entry)
        except ValueError:
            return None, 'domains are not supported in denyOut: "%s" is not a valid CIDR or IP address' % entry
    out = {}
    if allow:
        out["allowOut"] = allow
    if deny:
        out["denyOut"] = deny
    return out, None


def k8s_status(code, message, reason):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


class StreamWriter:
    """Connect streaming response: envelopes in a chunked HTTP/1.1 body (§6)."""

    def __init__(self, h, resp_t, codec, ctype, gz, fault):
        self.h, self.resp_t, self.codec, self.ctype, self.gz, self.fault = h, resp_t, codec, ctype, gz, fault
        self.started = False
        self.count = 0

    def _begin(self):
        if not self.started:
            headers = {"Content-Type": self.ctype}
            if self.gz:
                headers["Connect-Content-Encoding"] = "gzip"
            self.h.start_chunked(200, headers)
            self.started = True

    def _frame(self, flags, payload):
        if self.gz and payload:
            payload = gzip.compress(payload)
            flags |= FLAG_COMPRESSED
        return envelope(flags, payload)

    def send(self, msg):
        self._begin()
        f = self.fault
        if f is not None and self.count == f.after:
            if f.kind == "drop_mid_stream":
                raise Abort()
            if f.kind == "bad_envelope":
                if f.variant == "truncated":
                    self.h.write_chunk(struct.pack(">BI", 0, 100) + b"\x0a\x05")
                    raise Abort()
                if f.variant == "bad_flags":
                    self.h.write_chunk(struct.pack(">BI", 0x80, 2) + b"\x0a\x00")
                else:
                    self.h.write_chunk(struct.pack(">BI", 0, 5) + b"\xff\xff\xff\xff\xff")
        if self.codec == "proto":
            payload = encode(self.resp_t, msg)
        else:
            payload = json.dumps(to_json(self.resp_t, msg)).encode()
        self.h.write_chunk(self._frame(0, payload))
        self.count += 1

    def end(self, err=None):
        self._begin()
        payload = json.dumps({"error": err.body()} if err else {}).encode()
        self.h.write_chunk(self._frame(FLAG_END, payload))
        self.h.end_chunked()


###############################################################################
# 12. Servers and main
###############################################################################


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    tls_ctx = None  # an ssl.SSLContext: TLS on every connection (the --k8s-port)

    def finish_request(self, request, client_address):
        if self.tls_ctx is None:
            return super().finish_request(request, client_address)
        # The handshake runs on the connection's thread. When it fails, the alert is
        # out: read what the client still sends before closing, so that no TCP reset
        # overtakes the alert (clients can then say why, e.g. a missing client cert).
        conn = self.tls_ctx.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
        try:
            conn.settimeout(10)
            conn.do_handshake()
            conn.settimeout(None)
        except (ssl.SSLError, OSError) as e:
            log("TLS handshake from %s failed: %s" % (client_address, e))
            try:
                conn.shutdown(socket.SHUT_WR)
                conn.settimeout(2)
                while conn.recv(65536):
                    pass
            except (ssl.SSLError, OSError, ValueError):
                pass
            conn.close()
            return
        try:
            super().finish_request(conn, client_address)
        finally:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except (ssl.SSLError, OSError, ValueError):
                pass
            conn.close()

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
            return
        log("connection error from %s: %r" % (client_address, exc))


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description="Fake OpenKruise agents / E2B platform (see module docstring)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--k8s-port", type=int, default=None)
    ap.add_argument("--k8s-tls", default=None)
    ap.add_argument("--k8s-client-ca", default=None)
    ap.add_argument("--envd-port", type=int, default=ENVD_PORT)
    ap.add_argument("--domain", default="fake.local")
    ap.add_argument("--api-key", action="append", default=[])
    ap.add_argument("--access-token", default=None)
    ap.add_argument("--secure-mode", choices=("kruise", "e2b"), default="kruise")
    ap.add_argument("--keepalive-s", type=float, default=90.0)
    ap.add_argument("--k8s-token", default="fake-k8s-token")
    ap.add_argument("--namespace", default="default")
    ap.add_argument("--short-ids", action="store_true")
    ap.add_argument("--templates", default="base,code-interpreter")
    ap.add_argument("--users", default="root,user")
    ap.add_argument("--max-timeout", type=int, default=2592000)
    ap.add_argument("--min-timeout", type=int, default=30)
    ap.add_argument("--min-resume-timeout", type=int, default=300)
    ap.add_argument("--max-sandboxes", type=int, default=None)
    ap.add_argument("--connect-after-exit", choices=("replay", "not_found"), default="replay")
    ap.add_argument("--exited-retention-s", type=float, default=30.0)
    ap.add_argument("--gateway-errors", choices=("ext_proc", "gateway"), default="ext_proc")
    ap.add_argument("--gateway-auth", action="store_true")
    ap.add_argument("--no-gzip", action="store_true")
    ap.add_argument("--root", default=None)
    ap.add_argument("--exit-on-stdin-eof", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    return ap.parse_args(argv)


def main(argv=None):
    global LOG_QUIET
    args = parse_args(argv)
    LOG_QUIET = args.quiet
    platform = Platform(args)
    servers = []
    srv = Server((args.host, args.port), Handler)
    srv.platform, srv.k8s_only = platform, False
    servers.append(srv)
    if args.k8s_port is not None:
        ks = Server((args.host, args.k8s_port), Handler)
        ks.platform, ks.k8s_only = platform, True
        if args.k8s_tls:
            cert, _, key = args.k8s_tls.partition(",")
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key or None)
            if args.k8s_client_ca:
                ctx.verify_mode = ssl.CERT_REQUIRED
                ctx.load_verify_locations(args.k8s_client_ca)
            ks.tls_ctx = ctx
        servers.append(ks)
    for s in servers:
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sys.stdout.write("PORT %d\n" % srv.server_address[1])
    if len(servers) > 1:
        sys.stdout.write("K8SPORT %d\n" % servers[1].server_address[1])
    sys.stdout.flush()
    log("listening on %s:%d (domain %s, sandbox roots in %s)" % (args.host, srv.server_address[1], args.domain,
                                                                 platform.base_dir))
    if args.exit_on_stdin_eof:
        def watch_stdin():
            # os.read on the raw descriptor: a daemon thread blocked in the buffered
            # sys.stdin reader holds its lock and makes interpreter shutdown abort.
            try:
                while os.read(0, 4096):
                    pass
            except OSError:
                pass
            stop.set()
        threading.Thread(target=watch_stdin, daemon=True).start()
    while not stop.wait(0.5):
        pass
    log("shutting down")
    for s in servers:
        s.shutdown()
        s.server_close()
    platform.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
