#!/usr/bin/env python3
"""An OTLP/HTTP traces receiver for the tests (tests/it/ops/traces.rs).

It decodes what Clavis exports with the OpenTelemetry project's own
protocol definitions (the `opentelemetry-proto` package, built from
opentelemetry-proto's .proto files), independent of the Rust encoder, and
answers as a collector does (OTLP/HTTP 1.x: 200 with an
ExportTraceServiceResponse, 400 for a body that does not decode, 415 for an
unknown content type). The spans it received are listed, flattened, at
GET /spans as JSON.

    receiver.py            listens on a free loopback port and prints
                           "listening PORT" on standard output
    receiver.py --count    the same, keeping only the number of spans
                           (GET /count): the OpenID bench's collector
"""
import gzip
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

SPANS = []
COUNT = 0
COUNT_ONLY = "--count" in sys.argv[1:]
LOCK = threading.Lock()


def value(v):
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [value(x) for x in v.array_value.values]
    if kind is None:
        return None
    return getattr(v, kind)


def attributes(kvs):
    return {kv.key: value(kv.value) for kv in kvs}


def flatten(req):
    out = []
    for rs in req.resource_spans:
        resource = attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            for s in ss.spans:
                out.append({
                    "trace_id": s.trace_id.hex(),
                    "span_id": s.span_id.hex(),
                    "parent_span_id": s.parent_span_id.hex(),
                    "name": s.name,
                    "kind": s.kind,
                    "start": s.start_time_unix_nano,
                    "end": s.end_time_unix_nano,
                    "attributes": attributes(s.attributes),
                    "links": [{"trace_id": l.trace_id.hex(), "span_id": l.span_id.hex()} for l in s.links],
                    "events": [e.name for e in s.events],
                    "status": s.status.code,
                    "resource": resource,
                    "scope": ss.scope.name,
                })
    return out


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body, ctype):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        if self.path != "/v1/traces":
            return self.answer(404, b"not found", "text/plain")
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
        req = ExportTraceServiceRequest()
        try:
            if ctype == "application/x-protobuf":
                req.ParseFromString(body)
            elif ctype == "application/json":
                json_format.Parse(body, req)
            else:
                return self.answer(415, b"unsupported content type", "text/plain")
        except (DecodeError, json_format.ParseError) as e:
            return self.answer(400, str(e).encode(), "text/plain")
        global COUNT
        with LOCK:
            if COUNT_ONLY:
                COUNT += sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
            else:
                SPANS.extend(flatten(req))
        if ctype == "application/json":
            return self.answer(200, b"{}", "application/json")
        self.answer(200, ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf")

    def do_GET(self):
        with LOCK:
            if self.path == "/spans":
                body = json.dumps(SPANS).encode()
            elif self.path == "/count":
                body = str(COUNT).encode()
            else:
                return self.answer(404, b"not found", "text/plain")
        self.answer(200, body, "application/json")


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
