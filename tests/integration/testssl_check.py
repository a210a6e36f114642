#!/usr/bin/python3
"""Judges a testssl --jsonfile report of careteamd (tests/integration/test_testssl.c).

usage: testssl_check.py REPORT.json

Passes (exit 0) when the scan ran to the end and shows:
  - TLS 1.3 offered and SSLv2, SSLv3, TLS 1.0, 1.1 and 1.2 not offered;
  - at least one cipher suite, every one of them a TLS 1.3 AEAD suite;
  - the server certificate names where its revocation list is (cert_crlDistributionPoints);
  - no finding rated worse than OK (LOW, MEDIUM, HIGH, CRITICAL), except those in KNOWN below,
    each with the reason it does not apply to careteam, printed on every run;
  - no scan problem (WARN, FATAL) except the ones in SCAN_NOISE.
Otherwise prints every violation and exits 1 (2 for a report it cannot read).
"""
import json
import sys

BAD = {"LOW", "MEDIUM", "HIGH", "CRITICAL"}
NOT_OFFERED = ["SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2"]
AEAD_TLS13 = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
              "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_CCM_SHA256"}

# Findings rated worse than OK that the test tolerates, at exactly this rating, with why: a
# (id, severity) key and a reason string, printed on every run. None is tolerated today; the
# last one, cert_revocation HIGH ("Neither CRL nor OCSP URI provided"), went away when the
# certificates began to name the CA's revocation list (crl_url, docs/operations.md). Keep this
# list empty, or short; docs/reliability.md lists it too.
KNOWN = {}

# testssl's notes about its own environment, not about the server.
SCAN_NOISE = {"engine_problem"}


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    try:
        with open(sys.argv[1], encoding="utf-8") as f:
            findings = json.load(f)
    except (OSError, ValueError) as e:
        print(f"cannot read the testssl report {sys.argv[1]}: {e}")
        return 2
    problems = []
    by_id = {}
    for f in findings:
        by_id.setdefault(f.get("id", ""), []).append(f)

    def finding(fid):
        return by_id.get(fid, [{}])[0].get("finding", "")

    for proto in NOT_OFFERED:
        if proto not in by_id:
            problems.append(f"{proto}: not tested (scan incomplete?)")
        elif not finding(proto).startswith("not offered"):
            problems.append(f"{proto}: {finding(proto)} (must be not offered)")
    if not finding("TLS1_3").startswith("offered"):
        problems.append(f"TLS1_3: '{finding('TLS1_3')}' (must be offered)")

    # careteamd init names DIR/crl.pem (crl_url) in the server certificate: without it testssl
    # rates cert_revocation HIGH. A list it cannot fetch (file://, or no --phone-out) is not
    # checked by the scan; tests/integration/test_server_crl.c checks that clients use it.
    crl = finding("cert_crlDistributionPoints")
    if crl in ("", "--"):
        problems.append(f"cert_crlDistributionPoints: '{crl}' (the server certificate must name "
                        "its revocation list)")

    ciphers = [f for f in findings if f.get("id", "").startswith("cipher-")]
    if not ciphers:
        problems.append("no cipher suites reported (-E did not run?)")
    for c in ciphers:
        name = c.get("finding", "").split()[-1] if c.get("finding") else ""
        if not c["id"].startswith("cipher-tls1_3_") or name not in AEAD_TLS13:
            problems.append(f"{c['id']}: {c.get('finding')} (only TLS 1.3 AEAD suites allowed)")

    for f in findings:
        fid, sev = f.get("id", ""), f.get("severity", "")
        if sev in BAD:
            why = KNOWN.get((fid, sev))
            if why is not None:
                print(f"known finding {fid} {sev}: {f.get('finding')}\n  tolerated: {why}")
            else:
                problems.append(f"{fid} rated {sev}: {f.get('finding')}")
        elif sev in ("WARN", "FATAL") and fid not in SCAN_NOISE:
            problems.append(f"scan problem {fid} {sev}: {f.get('finding')}")

    print(f"{len(findings)} findings, {len(ciphers)} cipher suites: "
          + ", ".join(c.get("finding", "").split()[-1] for c in ciphers))
    print(f"revocation list named by the server certificate: {crl or '(none)'}")
    for p in problems:
        print("VIOLATION " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
