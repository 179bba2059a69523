#!/usr/bin/env python3
"""Conformance client: drives a fivetran_source server the way Fivetran's host does, with Fivetran's own stubs.

Every message is decoded with the classes Fivetran generated (fivetran-connector-sdk 2.13.1, loaded by
fivetran_stubs.py) and must carry no field those classes do not know. The run:

1. starts the binary on a free localhost port (``--binary``; ``--port N --connector NAME``) and waits for
   the port, or uses a running server (``--address``); the channel is gzip-compressed and goes through a
   relay that reads the HTTP/2 frames, to prove requests and responses really travel compressed;
2. ConfigurationForm: fields and tests decode, names unique, every field has a type;
3. Test: every listed test succeeds with the configuration; an unknown (gzip-compressed) test name does not;
4. Schema: tables and columns decode, known types, unique names, no NAIVE_TIME;
5. Update twice on the same process (the Python SDK hangs on the second; we must not), the second with the
   state of the first's last checkpoint. Every UpdateResponse decodes; batches hold 1..100 records; records
   name declared tables, carry non-null primary keys, and use the ValueType member of their column's
   declared type (dates at midnight, decimals and JSON that parse); checkpoints carry a JSON object; the
   stream ends with a checkpoint. For the demo connector its state is an oracle: each sync upserts exactly
   the items after the saved cursor, and every checkpoint arrives after all the records it covers;
   for the demo binary, a second server with ``ConnectorSdkRemoveValueType=true`` in its environment sends
   the first sync's records again in the compact ``row_data`` form (no ``data``), every cell the bytes
   Fivetran's SDK (``type_coercion.py``) writes for the typed value, floats and JSON compared by meaning;
6. when it started the binary: every stdout line is a JSON log object with ``level`` INFO/WARNING/SEVERE
   and ``message-origin: sdk_connector``, and the process exits on SIGTERM.

Exits 0 when all holds, 1 with a ``CONFORMANCE FAILED:`` line otherwise, 2 on bad usage.
"""

import argparse
import decimal
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fivetran_stubs  # noqa: E402

try:
    import grpc
    from google.protobuf import unknown_fields
except ImportError as error:  # pragma: no cover - environment problem, not a conformance result
    sys.exit(f"error: {error}; run `bash tests/conformance/setup.sh` and use .venv/bin/python")

try:
    stubs = fivetran_stubs.load()
except FileNotFoundError as error:
    sys.exit(f"error: {error}")
common = stubs.common_pb2
sdk = stubs.connector_sdk_pb2

MAX_BATCH = 100  # records per UpdateResponse, partner SDK rule
MAX_MESSAGE = 128 * 1024 * 1024  # Fivetran's gRPC message limit, both ways
LOG_LEVELS = {"INFO", "WARNING", "SEVERE"}
# > 100 records, so batches split; checkpoints mid-batch, so the emitter must flush before each checkpoint.
DEMO_CONFIGURATION = {"record_count": "250", "checkpoint_every": "60"}

# Which ValueType member a value of each declared DataType may use (null is always allowed).
VALUE_KIND = {
    common.BOOLEAN: "bool",
    common.SHORT: "short",
    common.INT: "int",
    common.LONG: "long",
    common.DECIMAL: "decimal",
    common.FLOAT: "float",
    common.DOUBLE: "double",
    common.NAIVE_DATE: "naive_date",
    common.NAIVE_DATETIME: "naive_datetime",
    common.UTC_DATETIME: "utc_datetime",
    common.BINARY: "binary",
    common.XML: "xml",
    common.STRING: "string",
    common.JSON: "json",
    common.NAIVE_TIME: "naive_time",
}
TIMESTAMP_KINDS = {"naive_date", "naive_datetime", "utc_datetime", "naive_time"}


class Mismatch(Exception):
    """The server did something Fivetran's host would not accept."""


def check(condition, message):
    if not condition:
        raise Mismatch(message)


def say(message):
    print(f"conformance: {message}", flush=True)


# ---------------------------------------------------------------------------------------------------------
# Generic message checks


def assert_no_unknown_fields(message, where):
    """Fail if the server sent a field Fivetran's classes do not know (anywhere in the message tree)."""
    unknown = unknown_fields.UnknownFieldSet(message)
    check(
        len(unknown) == 0,
        f"{where}: {type(message).__name__} carries field numbers unknown to Fivetran's stubs: "
        f"{sorted({field.field_number for field in unknown})}",
    )
    for field, value in message.ListFields():
        if field.type != field.TYPE_MESSAGE:
            continue
        if field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            children = value.values() if value_field.type == value_field.TYPE_MESSAGE else []
        elif field.is_repeated:
            children = value
        else:
            children = [value]
        for child in children:
            assert_no_unknown_fields(child, f"{where}.{field.name}")


def enum_name(enum, number):
    try:
        return enum.Name(number)
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------------------
# The server process


class Server:
    """The binary under test on a free localhost port, with its stdout and stderr collected line by line."""

    def __init__(self, binary, connector, startup_timeout, env=None):
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        command = [str(binary), "--port", str(self.port)]
        if connector:
            command += ["--connector", connector]
        say(f"starting {' '.join(command)}")
        self.process = subprocess.Popen(
            command,
            env=None if env is None else {**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        self.stdout, self.stderr = [], []
        self.readers = [
            threading.Thread(target=collect, args=(self.process.stdout, self.stdout), daemon=True),
            threading.Thread(target=collect, args=(self.process.stderr, self.stderr), daemon=True),
        ]
        for reader in self.readers:
            reader.start()
        self.wait_for_port(startup_timeout)

    def wait_for_port(self, timeout):
        deadline = time.monotonic() + timeout
        accepted = False
        while True:
            if accepted:
                # Something accepts on the port; make sure it is our server and not a process that took the
                # port first (then ours fails to bind and exits at once).
                time.sleep(0.2)
            if self.process.poll() is not None:
                self.join_readers()
                output = "\n".join(self.stdout + self.stderr)
                error = PortTaken if "in use" in output else Mismatch
                raise error(
                    f"server exited with {self.process.returncode} before listening on {self.address}:\n{self.tail()}"
                )
            if accepted:
                return
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    accepted = True
            except OSError:
                if time.monotonic() > deadline:
                    raise Mismatch(f"server did not accept connections on {self.address} within {timeout}s")
                time.sleep(0.05)

    def stop(self, timeout=10.0):
        """SIGTERM, then wait; returns the exit code or None if it had to be killed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                self.join_readers()
                return None
        self.join_readers()
        return self.process.returncode

    def join_readers(self):
        for reader in self.readers:
            reader.join(5)
        for stream in (self.process.stdout, self.process.stderr):
            if not stream.closed and not any(reader.is_alive() for reader in self.readers):
                stream.close()

    def tail(self, lines=20):
        out = "\n".join(f"  stdout| {line}" for line in self.stdout[-lines:])
        err = "\n".join(f"  stderr| {line}" for line in self.stderr[-lines:])
        return "\n".join(part for part in (out, err) if part)


class PortTaken(Mismatch):
    """Another process took the free port between our probe and the server's bind."""


def start_server(binary, connector, startup_timeout, attempts=3, env=None):
    for attempt in range(1, attempts + 1):
        try:
            return Server(binary, connector, startup_timeout, env)
        except PortTaken:
            if attempt == attempts:
                raise
            say("the port was taken before the server bound it; retrying on another")


def collect(stream, sink):
    for line in stream:
        sink.append(line.rstrip("\n"))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class WireTap:
    """A TCP relay in front of the server that reads the HTTP/2 frames passing through.

    gRPC prefixes every message with a one-byte compressed flag; counting those flags in DATA frames shows
    whether requests and responses really travel gzip-compressed (grpc-python hides the response encoding).
    """

    def __init__(self, upstream):
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.requests = GrpcMessageCounter(client_side=True)
        self.responses = GrpcMessageCounter(client_side=False)
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
                server = socket.create_connection(self.upstream)
            except OSError:
                return
            threading.Thread(target=relay, args=(client, server, self.requests), daemon=True).start()
            threading.Thread(target=relay, args=(server, client, self.responses), daemon=True).start()

    def close(self):
        self.listener.close()


def relay(source, sink, counter):
    try:
        while True:
            chunk = source.recv(65536)
            if not chunk:
                break
            sink.sendall(chunk)
            counter.feed(chunk)
    except OSError:
        pass
    finally:
        for sock in (sink, source):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class GrpcMessageCounter:
    """Counts gRPC messages by compressed flag in one direction of an HTTP/2 connection."""

    PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    DATA, PADDED = 0x0, 0x8

    def __init__(self, client_side):
        self.skip = len(self.PREFACE) if client_side else 0
        self.buffer = bytearray()
        self.pending = {}  # stream id -> DATA bytes not yet parsed into whole messages
        self.compressed = 0
        self.plain = 0
        self.lock = threading.Lock()

    def feed(self, chunk):
        with self.lock:
            self.buffer += chunk
            if self.skip:
                dropped = min(self.skip, len(self.buffer))
                del self.buffer[:dropped]
                self.skip -= dropped
            while len(self.buffer) >= 9:
                length = int.from_bytes(self.buffer[0:3], "big")
                if len(self.buffer) < 9 + length:
                    break
                kind, flags = self.buffer[3], self.buffer[4]
                stream = int.from_bytes(self.buffer[5:9], "big") & 0x7FFFFFFF
                payload = bytes(self.buffer[9 : 9 + length])
                del self.buffer[: 9 + length]
                if kind != self.DATA:
                    continue
                if flags & self.PADDED and payload:
                    payload = payload[1 : len(payload) - payload[0]]
                self.messages(self.pending.setdefault(stream, bytearray()), payload)

    def messages(self, pending, payload):
        pending += payload
        while len(pending) >= 5:
            size = int.from_bytes(pending[1:5], "big")
            if len(pending) < 5 + size:
                return
            if pending[0]:
                self.compressed += 1
            else:
                self.plain += 1
            del pending[: 5 + size]


def check_logs(stdout_lines):
    """Fivetran's partner SDK logging contract: one JSON object per stdout line."""
    check(stdout_lines, "server printed no log line on stdout (expected JSON log objects)")
    bad = []
    for number, line in enumerate(stdout_lines, 1):
        try:
            entry = json.loads(line)
        except ValueError:
            bad.append(f"line {number} is not JSON: {line[:200]!r}")
            continue
        if not isinstance(entry, dict):
            bad.append(f"line {number} is not a JSON object: {line[:200]!r}")
        elif entry.get("level") not in LOG_LEVELS:
            bad.append(f"line {number} has level {entry.get('level')!r}, not one of {sorted(LOG_LEVELS)}")
        elif entry.get("message-origin") != "sdk_connector":
            bad.append(f"line {number} has message-origin {entry.get('message-origin')!r}, not 'sdk_connector'")
        elif not isinstance(entry.get("message"), str):
            bad.append(f"line {number} has no string 'message'")
    check(not bad, "stdout log lines break the logging contract:\n  " + "\n  ".join(bad[:10]))
    return len(stdout_lines)


# ---------------------------------------------------------------------------------------------------------
# The RPCs


def check_form(form):
    assert_no_unknown_fields(form, "ConfigurationForm")
    names = set()

    def walk(fields, where):
        for field in fields:
            check(field.name, f"{where}: a form field has no name")
            check(field.name not in names, f"{where}: form field name {field.name!r} appears twice")
            names.add(field.name)
            kind = field.WhichOneof("type")
            check(kind is not None, f"{where}: form field {field.name!r} has no type (text/dropdown/toggle/...)")
            # A conditional_fields entry is an invisible container; every field a user sees needs a label.
            check(field.label or kind == "conditional_fields", f"{where}: form field {field.name!r} has no label")
            if kind == "text_field":
                check(enum_name(common.TextField, field.text_field), f"form field {field.name!r}: bad TextField")
            if kind == "conditional_fields":
                walk(field.conditional_fields.fields, f"{where}.{field.name}")

    walk(form.fields, "ConfigurationForm")
    test_names = [test.name for test in form.tests]
    check(all(test_names), "ConfigurationForm: a ConfigurationTest has no name")
    check(len(set(test_names)) == len(test_names), f"ConfigurationForm: duplicate test names {test_names}")
    check(all(test.label for test in form.tests), "ConfigurationForm: a ConfigurationTest has no label")
    return names, test_names


def check_tests(stub, test_names, configuration, timeout):
    for name in test_names:
        response = stub.Test(common.TestRequest(name=name, configuration=configuration), timeout=timeout)
        assert_no_unknown_fields(response, f"Test {name!r}")
        outcome = response.WhichOneof("response")
        check(outcome is not None, f"Test {name!r}: response has neither success nor failure")
        check(
            outcome == "success" and response.success,
            f"Test {name!r} did not succeed: {response.failure if outcome == 'failure' else response}",
        )
    # Long enough that gzip shrinks it, so the channel really sends it compressed (grpc sends a message
    # plain when compression would not make it smaller); the server must decompress it to read the name.
    bogus = "conformance-no-such-test-" + "x" * 4096
    try:
        response = stub.Test(common.TestRequest(name=bogus, configuration=configuration), timeout=timeout)
    except grpc.RpcError as error:
        check(
            error.code() != grpc.StatusCode.UNIMPLEMENTED,
            f"a gzip-compressed Test request was refused: {error.code().name}: {error.details()}",
        )
        return f"unknown test name (gzip-compressed request) -> {error.code().name}"
    check(
        response.WhichOneof("response") == "failure",
        f"Test {bogus[:40]!r}... (not in the form) answered {response} instead of a failure or an error status",
    )
    return "unknown test name (gzip-compressed request) -> failure"


def check_schema(response):
    """Return {(schema_name or None, table): {column: Column}} and the primary keys per table."""
    assert_no_unknown_fields(response, "Schema")
    kind = response.WhichOneof("response")
    check(kind in ("with_schema", "without_schema"), f"Schema: expected tables, got {kind!r}: {response}")
    if kind == "with_schema":
        named = [(schema.name, schema.tables) for schema in response.with_schema.schemas]
        check(named, "Schema: with_schema lists no schema")
    else:
        named = [(None, response.without_schema.tables)]
    tables = {}
    for schema_name, schema_tables in named:
        for table in schema_tables:
            key = (schema_name, table.name)
            check(table.name, f"Schema: a table in schema {schema_name!r} has no name")
            check(key not in tables, f"Schema: table {key} declared twice")
            columns = {}
            for column in table.columns:
                where = f"Schema: {table.name}.{column.name}"
                check(column.name, f"Schema: a column of {table.name} has no name")
                check(column.name not in columns, f"{where} declared twice")
                check(enum_name(common.DataType, column.type), f"{where}: unknown DataType {column.type}")
                check(column.type != common.NAIVE_TIME, f"{where}: NAIVE_TIME (source connectors must not use it)")
                if column.HasField("params") and column.params.WhichOneof("params") == "decimal":
                    precision, scale = column.params.decimal.precision, column.params.decimal.scale
                    check(column.type == common.DECIMAL, f"{where}: decimal params on a non-DECIMAL column")
                    check(1 <= precision <= 38 and scale <= precision, f"{where}: bad DECIMAL({precision},{scale})")
                columns[column.name] = column
            tables[key] = columns
    check(tables, "Schema: no table declared")
    return tables


def check_value(value, column, where):
    """The value decodes and uses the ValueType member of its column's declared type."""
    kind = value.WhichOneof("inner")
    check(kind is not None, f"{where}: empty ValueType (no member set)")
    if kind == "null":
        check(value.null, f"{where}: null: false is not a value")
        return kind
    if column is not None and column.type != common.UNSPECIFIED:
        expected = VALUE_KIND[column.type]
        check(kind == expected, f"{where}: declared {common.DataType.Name(column.type)}, sent {kind}")
    if kind in TIMESTAMP_KINDS:
        stamp = getattr(value, kind)
        check(0 <= stamp.nanos < 1_000_000_000, f"{where}: timestamp nanos {stamp.nanos} out of range")
        if kind == "naive_date":
            check(stamp.seconds % 86400 == 0 and stamp.nanos == 0, f"{where}: naive_date is not midnight UTC")
    elif kind == "short":
        check(-(2**15) <= value.short < 2**15, f"{where}: short {value.short} out of range")
    elif kind == "decimal":
        try:
            number = decimal.Decimal(value.decimal)
        except decimal.InvalidOperation:
            raise Mismatch(f"{where}: decimal {value.decimal!r} is not a number") from None
        check(number.is_finite(), f"{where}: decimal {value.decimal!r} is not finite")
    elif kind == "json":
        try:
            json.loads(value.json)
        except ValueError:
            raise Mismatch(f"{where}: json {value.json[:100]!r} is not JSON") from None
    return kind


class SyncResult:
    """What one Update sent, in arrival order."""

    def __init__(self):
        self.responses = 0
        self.records = 0
        self.batches = 0
        self.checkpoints = []  # state_json strings
        self.events = []  # ("record", table key, RecordType name, primary key tuple) | ("checkpoint", state dict)
        self.kinds = set()  # ValueType members seen
        self.filled = set()  # (table key, column) that received a non-null value
        self.warnings = []
        self.last_operation = None
        self.record_list = []  # every StructuredRecord, in order
        self.compact = False  # the records must come as row_data (ConnectorSdkRemoveValueType=true)


def run_update(stub, configuration, state_json, tables, timeout, label, compact=False):
    """One Update, consumed to the end; every response checked as it arrives (`compact`: the records
    must come in the row_data form)."""
    request = sdk.UpdateRequest(configuration=configuration, state_json=state_json)
    result = SyncResult()
    result.compact = compact
    try:
        for response in stub.Update(request, timeout=timeout):
            result.responses += 1
            where = f"{label} response #{result.responses}"
            assert_no_unknown_fields(response, where)
            operation = response.WhichOneof("operation")
            check(operation is not None, f"{where}: UpdateResponse with no operation set")
            result.last_operation = operation
            if operation == "structured_records":
                batch = response.structured_records.structured_records
                check(1 <= len(batch) <= MAX_BATCH, f"{where}: batch of {len(batch)} records (must be 1..{MAX_BATCH})")
                result.batches += 1
                for index, record in enumerate(batch):
                    check_record(record, tables, result, f"{where} record {index}")
            elif operation == "structured_record":
                check_record(response.structured_record, tables, result, where)
            elif operation == "checkpoint":
                state = response.checkpoint.state_json
                try:
                    parsed = json.loads(state)
                except ValueError:
                    raise Mismatch(f"{where}: checkpoint state_json is not JSON: {state[:200]!r}") from None
                check(isinstance(parsed, dict), f"{where}: checkpoint state must be a JSON object, got {state[:200]!r}")
                result.checkpoints.append(state)
                result.events.append(("checkpoint", parsed))
            elif operation == "warning":
                check(response.warning.message, f"{where}: empty warning")
                result.warnings.append(response.warning.message)
            elif operation == "task":
                raise Mismatch(f"{where}: the sync ended with a Task (user-facing error): {response.task.message}")
            else:
                raise Mismatch(f"{where}: unexpected operation {operation!r} for a partner connector")
    except grpc.RpcError as error:
        if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
            raise Mismatch(f"{label} did not finish within {timeout}s (hung?)") from None
        raise Mismatch(f"{label} failed: {error.code().name}: {error.details()}") from None
    check(result.records > 0, f"{label}: no record was sent")
    check(result.checkpoints, f"{label}: no checkpoint was sent")
    check(
        result.last_operation == "checkpoint",
        f"{label}: the stream ended with {result.last_operation!r}, not a checkpoint; the records after the last "
        "checkpoint are not covered by any state",
    )
    return result


def check_record(record, tables, result, where):
    schema_name = record.schema_name if record.HasField("schema_name") else None
    key = (schema_name, record.table_name)
    check(key in tables, f"{where}: table {key} is not in the Schema response (declared: {sorted(tables, key=str)})")
    columns = tables[key]
    record_type = enum_name(common.RecordType, record.type)
    check(record_type is not None, f"{where}: unknown RecordType {record.type}")
    result.record_list.append(record)
    if compact_cells(record, columns, result, where):
        return
    check(len(record.row_data) == 0, f"{where}: row_data is a Connector SDK encoding, partner hosts read data")
    result.records += 1
    if record.type == common.TRUNCATE:
        check(len(record.data) == 0, f"{where}: a TRUNCATE record carries data")
        result.events.append(("record", key, record_type, ()))
        return
    check(len(record.data) > 0, f"{where}: {record_type} record with no data")
    for name, value in record.data.items():
        kind = check_value(value, columns.get(name), f"{where} {record.table_name}.{name}")
        result.kinds.add(kind)
        if kind != "null":
            result.filled.add((key, name))
    primary_key = [name for name, column in columns.items() if column.primary_key]
    for name in primary_key:
        check(name in record.data, f"{where}: {record_type} without primary key column {name!r}")
        check(record.data[name].WhichOneof("inner") != "null", f"{where}: null primary key {name!r}")
    pk_values = tuple(getattr(record.data[name], record.data[name].WhichOneof("inner")) for name in primary_key)
    result.events.append(("record", key, record_type, pk_values))


# The row_data prefix bytes of type_coercion.py (fivetran-connector-sdk 2.13.1), by declared DataType.
COMPACT_PREFIX = {
    "BOOLEAN": 1, "SHORT": 1, "INT": 1, "LONG": 1, "DECIMAL": 1, "STRING": 1, "XML": 1,
    "NAIVE_DATE": 1, "NAIVE_DATETIME": 1, "UTC_DATETIME": 1, "JSON": 2, "BINARY": 3, "FLOAT": 4, "DOUBLE": 5,
}


def compact_cells(record, columns, result, where):
    """A record in the compact row_data form (the server runs with ConnectorSdkRemoveValueType=true):
    checks it and returns True; False for a record in the typed form."""
    if not result.compact:
        return False
    result.records += 1
    check(len(record.data) == 0, f"{where}: typed data sent although row_data was asked for")
    if record.type == common.TRUNCATE:
        check(len(record.row_data) == 0, f"{where}: a TRUNCATE record carries row_data")
        return True
    check(len(record.row_data) > 0, f"{where}: record with no row_data")
    for name, cell in record.row_data.items():
        check(len(cell) >= 1, f"{where} {name}: empty row_data cell")
        column = columns.get(name)
        declared = enum_name(common.DataType, column.type) if column is not None else None
        if cell[0] == 0:
            check(len(cell) == 1, f"{where} {name}: a null cell with a payload")
        elif declared in COMPACT_PREFIX:
            check(cell[0] == COMPACT_PREFIX[declared], f"{where} {name}: prefix {cell[0]} for a {declared} column")
        else:
            check(cell[0] in (1, 2, 3, 4, 5), f"{where} {name}: unknown prefix {cell[0]}")
    return True


def expected_compact_cell(value):
    """What type_coercion.py writes for the Python value a typed ValueType stands for, computed with
    Fivetran's own protobuf Timestamp methods; floats, doubles and JSON as a (kind, value) to compare
    by meaning (Python spells 0.1f32 differently from the float it decodes to)."""
    kind = value.WhichOneof("inner")
    v = getattr(value, kind)
    if kind == "null":
        return b"\x00"
    if kind == "bool":
        return b"\x01true" if v else b"\x01false"
    if kind in ("short", "int", "long"):
        return b"\x01" + str(v).encode()
    if kind in ("decimal", "string", "xml"):
        return b"\x01" + v.encode()
    if kind == "binary":
        return b"\x03" + v
    if kind == "json":
        return ("json", json.loads(v))
    if kind in ("float", "double"):
        return (kind, v)
    if kind == "naive_date":
        return b"\x01" + v.ToDatetime().date().isoformat().encode()
    if kind == "naive_datetime":
        return b"\x01" + v.ToDatetime().isoformat().encode()
    if kind == "utc_datetime":
        return b"\x01" + v.ToJsonString().encode()
    raise Mismatch(f"no row_data form known for ValueType {kind}")


def check_compact_matches_typed(compact, typed, label):
    """The compact sync sent the typed sync's records, each cell as Fivetran's SDK would encode it."""
    check(
        len(compact.record_list) == len(typed.record_list),
        f"{label}: {len(compact.record_list)} records, the typed sync sent {len(typed.record_list)}",
    )
    import struct

    for index, (c, t) in enumerate(zip(compact.record_list, typed.record_list)):
        where = f"{label} record {index} ({t.table_name})"
        check((c.table_name, c.type) == (t.table_name, t.type), f"{where}: a different record")
        check(sorted(c.row_data) == sorted(t.data), f"{where}: columns {sorted(c.row_data)} vs {sorted(t.data)}")
        for name, value in t.data.items():
            cell, want = c.row_data[name], expected_compact_cell(value)
            if isinstance(want, bytes):
                check(cell == want, f"{where} {name}: {cell!r}, Fivetran's SDK writes {want!r}")
                continue
            kind, expected = want
            prefix, text = cell[0], cell[1:].decode()
            if kind == "json":
                check(prefix == 2 and json.loads(text) == expected, f"{where} {name}: {cell!r} vs {expected!r}")
            elif kind == "float":
                got = struct.unpack("f", struct.pack("f", float(text)))[0]
                check(prefix == 4 and got == expected, f"{where} {name}: {cell!r} vs float {expected!r}")
            else:
                check(prefix == 5 and float(text) == expected, f"{where} {name}: {cell!r} vs double {expected!r}")


def check_compact_sync(args, configuration, tables, typed):
    """A second server with ConnectorSdkRemoveValueType=true in its environment (how Fivetran's SDK hosts
    ask for row_data): its first Update sends the same records in the compact form."""
    server = start_server(args.binary, args.connector, args.startup_timeout, env={"ConnectorSdkRemoveValueType": "true"})
    try:
        channel = grpc.insecure_channel(
            server.address,
            options=[("grpc.max_send_message_length", MAX_MESSAGE), ("grpc.max_receive_message_length", MAX_MESSAGE)],
        )
        grpc.channel_ready_future(channel).result(timeout=args.startup_timeout)
        stub = stubs.connector_sdk_pb2_grpc.SourceConnectorStub(channel)
        label = "Update (ConnectorSdkRemoveValueType=true)"
        result = run_update(stub, configuration, "{}", tables, args.timeout, label, compact=True)
        check_compact_matches_typed(result, typed, label)
        channel.close()
        say(f"{label} ok: {result.records} records in row_data form, every cell as Fivetran's SDK encodes it")
    finally:
        server.stop()


def check_every_column_filled(results, tables):
    """Each declared column received at least one non-null value over the syncs (all value types decode)."""
    filled = set().union(*(result.filled for result in results))
    empty = [
        f"{table}.{column}"
        for (schema, table), columns in tables.items()
        for column in columns
        if ((schema, table), column) not in filled
    ]
    check(not empty, f"declared columns that never received a non-null value: {empty}")


def records_of(result, table):
    """(RecordType name, primary key tuple) of the records of one table, in arrival order."""
    return [(event[2], event[3]) for event in result.events if event[0] == "record" and event[1] == table]


def check_demo_sync(result, start_state, configuration, label):
    """The demo connector's state oracle: resume without loss or duplicates, records before their checkpoint.

    Demo state is {version, next_id, oldest_live, syncs}; a sync updates item next_id-1 and deletes item
    oldest_live of the previous syncs, upserts items next_id.. next_id+record_count-1 in order with a checkpoint
    every checkpoint_every items, upserts one `events` row, and checkpoints.
    """
    items = (None, "items")
    record_count = int(configuration.get("record_count", "1000"))
    checkpoint_every = int(configuration.get("checkpoint_every", "10000"))
    next_id = start_state.get("next_id", 0)
    oldest_live = start_state.get("oldest_live", 0)

    upserted = [pk[0] for record_type, pk in records_of(result, items) if record_type == "UPSERT"]
    expected = list(range(next_id, next_id + record_count))
    check(
        upserted == expected,
        f"{label}: upserted items {summarize(upserted)}, expected {summarize(expected)} "
        f"(resuming from next_id {next_id})",
    )
    changes = [(record_type, pk[0]) for record_type, pk in records_of(result, items) if record_type != "UPSERT"]
    expected_changes = [("UPDATE", next_id - 1), ("DELETE", oldest_live)] if next_id > 0 else []
    check(changes == expected_changes, f"{label}: item updates/deletes {changes}, expected {expected_changes}")

    seen = 0  # items upserted so far in this sync
    checkpoints = []
    for event in result.events:
        if event[0] == "record" and event[1] == items and event[2] == "UPSERT":
            seen += 1
        elif event[0] == "checkpoint":
            state = event[1]
            covered = state.get("next_id", -1) - next_id
            check(
                covered == seen,
                f"{label}: checkpoint {state} covers {covered} new items but {seen} arrived before it "
                "(every record a checkpoint covers must arrive before it)",
            )
            checkpoints.append(state)
    expected_checkpoints = record_count // checkpoint_every + 1
    check(
        len(checkpoints) == expected_checkpoints,
        f"{label}: {len(checkpoints)} checkpoints, expected {expected_checkpoints} "
        f"(one every {checkpoint_every} items, and a final one)",
    )
    final = checkpoints[-1]
    check(
        final.get("syncs") == start_state.get("syncs", 0) + 1,
        f"{label}: final state {final} does not count this sync (started from {start_state})",
    )
    events = len(records_of(result, (None, "events")))
    check(events == 1, f"{label}: {events} `events` rows, expected 1")
    return len(checkpoints)


def summarize(ids):
    if not ids:
        return "[]"
    if ids == list(range(ids[0], ids[0] + len(ids))):
        return f"{ids[0]}..{ids[-1]} ({len(ids)})"
    return f"{ids[:5]}...{ids[-3:]} ({len(ids)}, not consecutive)"


# ---------------------------------------------------------------------------------------------------------


def parse_configuration(pairs):
    configuration = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--config expects KEY=VALUE, got {pair!r}")
        configuration[name] = value
    return configuration


def conform(stub, args, configuration):
    """Every RPC as the host drives it; returns nothing, raises Mismatch."""
    form = stub.ConfigurationForm(common.ConfigurationFormRequest(), timeout=args.timeout)
    field_names, test_names = check_form(form)
    say(f"ConfigurationForm ok: fields {sorted(field_names)}, tests {test_names}")
    unknown = sorted(set(configuration) - field_names)
    check(not unknown, f"configuration keys {unknown} are not fields of the ConfigurationForm")

    outcome = check_tests(stub, test_names, configuration, args.timeout)
    say(f"Test ok: {len(test_names)} listed test(s) succeeded; {outcome}")

    tables = check_schema(stub.Schema(sdk.SchemaRequest(configuration=configuration), timeout=args.timeout))
    listing = ", ".join(f"{name}({len(columns)} columns)" for (_, name), columns in sorted(tables.items(), key=str))
    say(f"Schema ok: {listing}")

    demo = (args.connector == "demo" and args.binary is not None) or args.demo_oracle
    state = "{}"
    results = []
    for number in (1, 2):
        label = f"Update #{number}" + (" (same process, state of #1's last checkpoint)" if number == 2 else "")
        result = run_update(stub, configuration, state, tables, args.timeout, label)
        detail = ""
        if demo:
            check_demo_sync(result, json.loads(state), configuration, label)
            detail = "; demo oracle ok (resumed exactly, every checkpoint after the records it covers)"
        say(
            f"{label} ok: {result.records} records in {result.batches} batches (<= {MAX_BATCH} each), "
            f"{len(result.checkpoints)} checkpoints{detail}"
        )
        results.append(result)
        state = result.checkpoints[-1]
    kinds = sorted(set().union(*(result.kinds for result in results)))
    if demo:
        check_every_column_filled(results, tables)
    say(f"values ok: kinds {kinds}" + ("; every declared column received a value" if demo else ""))
    if demo and args.binary:
        check_compact_sync(args, configuration, tables, results[0])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--binary", help="path to fivetran_source; started on a free port and stopped at the end")
    target.add_argument("--address", help="HOST:PORT of a server that is already running")
    target.add_argument("--check-log", metavar="FILE", help="only check a file of the server's stdout log lines")
    parser.add_argument("--connector", default="demo", help="--connector passed to the binary (default: demo)")
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"configuration entry (repeatable; default for the demo connector: {DEMO_CONFIGURATION})",
    )
    parser.add_argument(
        "--demo-oracle",
        action="store_true",
        help="with --address: the server runs the demo connector, check its records against its state",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="deadline of each RPC in seconds (default 60)")
    parser.add_argument("--startup-timeout", type=float, default=30.0, help="seconds to wait for the port")
    args = parser.parse_args(argv)

    if args.check_log:
        lines = Path(args.check_log).read_text(encoding="utf-8").splitlines()
        try:
            count = check_logs(lines)
            say(f"logs ok: {count} lines of {args.check_log}, all JSON objects with level and message-origin")
        except Mismatch as mismatch:
            print(f"CONFORMANCE FAILED: {mismatch}", file=sys.stderr)
            return 1
        return 0

    configuration = parse_configuration(args.config)
    if not args.config and (args.connector == "demo" or args.demo_oracle):
        configuration = dict(DEMO_CONFIGURATION)

    server = tap = None
    started = time.monotonic()
    try:
        if args.binary:
            server = start_server(args.binary, args.connector, args.startup_timeout)
            upstream = ("127.0.0.1", server.port)
        else:
            host, _, port = args.address.rpartition(":")
            upstream = (host.strip("[]") or "127.0.0.1", int(port))
        tap = WireTap(upstream)
        say(f"connecting to {upstream[0]}:{upstream[1]} through a frame-reading relay at {tap.address}")
        say(f"gzip channel, 128 MiB limits, configuration {configuration}")
        channel = grpc.insecure_channel(
            tap.address,
            options=[("grpc.max_send_message_length", MAX_MESSAGE), ("grpc.max_receive_message_length", MAX_MESSAGE)],
            compression=grpc.Compression.Gzip,
        )
        try:
            grpc.channel_ready_future(channel).result(timeout=args.startup_timeout)
        except grpc.FutureTimeoutError:
            raise Mismatch(f"no gRPC channel to {upstream} within {args.startup_timeout}s") from None
        stub = stubs.connector_sdk_pb2_grpc.SourceConnectorStub(channel)
        try:
            conform(stub, args, configuration)
        except grpc.RpcError as error:
            raise Mismatch(f"RPC error {error.code().name}: {error.details()}") from None
        channel.close()

        requests, responses = tap.requests, tap.responses
        check(requests.compressed > 0, f"no gzip-compressed request went out ({requests.plain} plain)")
        check(responses.compressed > 0, f"the server sent no gzip-compressed response ({responses.plain} plain)")
        say(
            f"gzip ok: requests {requests.compressed} compressed / {requests.plain} plain, "
            f"responses {responses.compressed} compressed / {responses.plain} plain"
        )

        if server is not None:
            code = server.stop()
            check(code is not None, "server did not exit within 10s of SIGTERM")
            say(f"server stopped on SIGTERM (exit code {code})")
            say(f"logs ok: {check_logs(server.stdout)} stdout lines, all JSON objects with level and message-origin")
            if server.stderr:
                say(f"note: {len(server.stderr)} stderr line(s), e.g. {server.stderr[0][:200]!r}")
    except Mismatch as mismatch:
        print(f"CONFORMANCE FAILED: {mismatch}", file=sys.stderr, flush=True)
        if server is not None:
            server.stop()
            print(f"server output (last lines):\n{server.tail()}", file=sys.stderr)
        return 1
    finally:
        if tap is not None:
            tap.close()
        if server is not None and server.process.poll() is None:
            server.process.kill()
    say(f"all checks passed in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
