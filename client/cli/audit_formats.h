/*
 * Writing audit records (careteam audit query) as they arrive, page by page, in one of four
 * formats, so that an export of any size holds one page in memory at most:
 *
 *   table  aligned columns for a terminal; each column as wide as the widest cell seen so far
 *          (measured per page, never narrower than before), text escaped as elsewhere on stdout
 *   csv    RFC 4180: a header row, then one row per record; a field containing a comma, a double
 *          quote, CR or LF is quoted, with each double quote doubled; every line ends in CRLF
 *   jsonl  one JSON object per record and line (the schema at the top of output.c)
 *   fhir   one FHIR R4 Bundle of type "collection" with one AuditEvent per record: the header,
 *          then each entry as its page arrives, then the footer (the mapping: docs/compliance.md)
 *
 * Usage: ct_audit_export_begin, ct_audit_export_page for each page, ct_audit_export_end. Only
 * end writes the FHIR footer: an export cut short (a lost connection) is not valid JSON, so it
 * cannot be mistaken for a complete one.
 */
#ifndef CT_CLI_AUDIT_FORMATS_H
#define CT_CLI_AUDIT_FORMATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "careteam.pb-c.h"

typedef enum ct_audit_format {
    CT_AUDIT_TABLE = 0,
    CT_AUDIT_CSV,
    CT_AUDIT_JSONL,
    CT_AUDIT_FHIR,
} ct_audit_format_t;

/* Parses "table", "csv", "jsonl" or "fhir". Returns 0 or -1. */
int ct_audit_format_parse(const char *name, ct_audit_format_t *out);

#define CT_AUDIT_TABLE_COLS 9

typedef struct ct_audit_export {
    FILE *f; /* not owned */
    ct_audit_format_t format;
    const char *observer; /* fhir: the server's name (Welcome.server_name); borrowed */
    const char *site;     /* fhir: the address the CLI connected to; borrowed */
    int64_t now_ms;       /* fhir: Bundle.timestamp */
    size_t n;             /* records written */
    size_t width[CT_AUDIT_TABLE_COLS];
    bool started; /* the CSV header or the Bundle's start is written */
} ct_audit_export_t;

/* Starts an export on f. Nothing is written before the first page (or the end): the CSV header
 * and the Bundle's start come with it. */
void ct_audit_export_begin(ct_audit_export_t *x, FILE *f, ct_audit_format_t format,
                           const char *observer, const char *site, int64_t now_ms);

/* Writes records[0..n). */
void ct_audit_export_page(ct_audit_export_t *x, Careteam__V1__AuditRecord *const *records,
                          size_t n);

/* Ends the export: the Bundle's footer; for a table without records, a line saying so. */
void ct_audit_export_end(ct_audit_export_t *x);

#endif
