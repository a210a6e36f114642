#!/usr/bin/python3
"""Checks `careteam audit query` exports for tests/integration/test_audit_query.c.

  audit_check.py fhir BUNDLE.json RECORDS.jsonl
      BUNDLE.json is a FHIR R4 Bundle of type "collection" whose entries are AuditEvent resources
      holding every element the AuditEvent definition requires (type, recorded, agent with
      requestor, source with observer) with values from their value sets, plus action, outcome
      and entity as careteam fills them; one entry per record of RECORDS.jsonl, in order, each
      matching its record.
  audit_check.py csv EXPORT.csv RECORDS.jsonl
      EXPORT.csv parses with Python's csv module (RFC 4180) into a header row and one row per
      record of RECORDS.jsonl whose fields equal the record's; its lines end in CRLF; and at
      least one field holds a comma and one a double quote, so the quoting was exercised.

Exits 0 when everything holds; otherwise prints what failed and exits 1. Uses only the standard
library (json, csv, re).
"""
import csv
import io
import json
import re
import sys

INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
ACTIONS = {"C", "R", "U", "D", "E"}
OUTCOMES = {"0", "4", "8", "12"}
TYPE_SYSTEMS = {"http://dicom.nema.org/resources/ontology/DCM",
                "http://terminology.hl7.org/CodeSystem/audit-event-type"}
SUBTYPE_SYSTEM = "urn:careteam:audit-action"
FIELDS = ["seq", "time", "time_ms", "actor_id", "actor_role", "cert_fp", "peer_addr", "action",
          "object_type", "object_id", "participant_id", "outcome", "detail"]

failures = []


def fail(msg):
    failures.append(msg)


def coding(c, where):
    if not isinstance(c, dict) or not isinstance(c.get("code"), str) or not c["code"]:
        fail(f"{where}: not a Coding with a code: {c!r}")
        return False
    if not isinstance(c.get("system"), str) or not c["system"]:
        fail(f"{where}: Coding without a system: {c!r}")
        return False
    return True


def check_event(ev, rec, i):
    w = f"entry {i} (seq {rec['seq']})"
    if ev.get("resourceType") != "AuditEvent":
        fail(f"{w}: resourceType {ev.get('resourceType')!r}")
        return
    # AuditEvent.type 1..1 Coding
    t = ev.get("type")
    if coding(t, f"{w}.type") and t["system"] not in TYPE_SYSTEMS:
        fail(f"{w}.type.system {t['system']!r} is not DCM or audit-event-type")
    # subtype: the action code
    st = ev.get("subtype")
    if not isinstance(st, list) or not st or not coding(st[0], f"{w}.subtype[0]"):
        fail(f"{w}: no subtype")
    elif st[0]["system"] != SUBTYPE_SYSTEM or st[0]["code"] != rec["action"]:
        fail(f"{w}.subtype {st[0]!r} is not the action {rec['action']!r}")
    # action 0..1 code C|R|U|D|E
    if ev.get("action") not in ACTIONS:
        fail(f"{w}.action {ev.get('action')!r}")
    # recorded 1..1 instant
    if not isinstance(ev.get("recorded"), str) or not INSTANT.match(ev["recorded"]):
        fail(f"{w}.recorded {ev.get('recorded')!r} is not an instant")
    elif ev["recorded"] != rec["time"]:
        fail(f"{w}.recorded {ev['recorded']!r} != {rec['time']!r}")
    # outcome 0..1 code 0|4|8|12; outcomeDesc the detail
    if ev.get("outcome") not in OUTCOMES or ev["outcome"] != str(rec["outcome"]):
        fail(f"{w}.outcome {ev.get('outcome')!r} (record {rec['outcome']})")
    if ev.get("outcomeDesc", "") != rec["detail"]:
        fail(f"{w}.outcomeDesc {ev.get('outcomeDesc')!r} != detail {rec['detail']!r}")
    # agent 1..* with requestor 1..1 boolean
    agents = ev.get("agent")
    if not isinstance(agents, list) or not agents:
        fail(f"{w}: no agent")
    else:
        for k, a in enumerate(agents):
            if not isinstance(a.get("requestor"), bool):
                fail(f"{w}.agent[{k}].requestor missing or not a boolean")
            net = a.get("network")
            if net is not None and (not isinstance(net.get("address"), str)
                                    or net.get("type") not in {"1", "2", "3", "4", "5"}):
                fail(f"{w}.agent[{k}].network {net!r}")
        a = agents[0]
        if a.get("requestor") is not True:
            fail(f"{w}.agent[0] is not the requestor")
        who = a.get("who", {}).get("identifier", {}).get("value", "")
        if who != rec["actor_id"]:
            fail(f"{w}.agent[0].who {who!r} != actor {rec['actor_id']!r}")
    # source 1..1 with observer 1..1 Reference
    src = ev.get("source")
    if not isinstance(src, dict):
        fail(f"{w}: no source")
    else:
        obs = src.get("observer")
        if not isinstance(obs, dict) or not (obs.get("display") or obs.get("identifier")
                                              or obs.get("reference")):
            fail(f"{w}.source.observer {obs!r} is not a Reference")
        for k, c in enumerate(src.get("type", [])):
            coding(c, f"{w}.source.type[{k}]")
    # entity: the object and the participant, as what.identifier
    ids = []
    for k, e in enumerate(ev.get("entity", [])):
        ident = e.get("what", {}).get("identifier", {})
        if not isinstance(ident.get("value"), str):
            fail(f"{w}.entity[{k}] has no what.identifier.value")
        ids.append((ident.get("type", {}).get("text"), ident.get("value")))
        if "type" in e:
            coding(e["type"], f"{w}.entity[{k}].type")
    if rec["object_type"] or rec["object_id"]:
        if (rec["object_type"], rec["object_id"]) not in ids:
            fail(f"{w}: no entity for the object {rec['object_type']} {rec['object_id']}")
    if rec["participant_id"] and ("participant", rec["participant_id"]) not in ids:
        fail(f"{w}: no entity for participant {rec['participant_id']}")


def load_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def check_fhir(bundle_path, records_path):
    with open(bundle_path, encoding="utf-8") as f:
        bundle = json.load(f)
    records = load_jsonl(records_path)
    if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "collection":
        fail(f"not a collection Bundle: {bundle.get('resourceType')!r} {bundle.get('type')!r}")
    entries = bundle.get("entry", [])
    if len(entries) != len(records):
        fail(f"{len(entries)} entries for {len(records)} records")
    for i, (entry, rec) in enumerate(zip(entries, records)):
        check_event(entry.get("resource", {}), rec, i)
    return len(entries)


def check_csv(csv_path, records_path):
    with open(csv_path, "rb") as f:
        raw = f.read()
    text = raw.decode("utf-8")
    # Every line ends in CRLF (a bare LF may only appear inside a quoted field).
    if not text.endswith("\r\n"):
        fail("the CSV does not end in CRLF")
    rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    records = load_jsonl(records_path)
    if not rows or rows[0] != FIELDS:
        fail(f"header {rows[0] if rows else None!r}")
    body = rows[1:]
    if len(body) != len(records):
        fail(f"{len(body)} CSV rows for {len(records)} records")
    comma = quote = False
    for row, rec in zip(body, records):
        want = [str(rec[k]) for k in FIELDS]
        if row != want:
            fail(f"seq {rec['seq']}: CSV row {row!r} != record {want!r}")
        comma = comma or any("," in v for v in row)
        quote = quote or any('"' in v for v in row)
    if not comma or not quote:
        fail(f"no field held a comma ({comma}) and a double quote ({quote}): quoting untested")
    return len(body)


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("fhir", "csv"):
        print(__doc__, file=sys.stderr)
        return 2
    n = (check_fhir if sys.argv[1] == "fhir" else check_csv)(sys.argv[2], sys.argv[3])
    for m in failures[:20]:
        print("FAIL:", m)
    if failures:
        print(f"{len(failures)} failures")
        return 1
    print(f"ok: {n} records")
    return 0


if __name__ == "__main__":
    sys.exit(main())
