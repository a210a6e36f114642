/* Network addresses as people write them: "HOST:PORT", "[V6]:PORT", or "HOST" alone. */
#ifndef CT_ADDR_H
#define CT_ADDR_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Splits s into host and port. A missing port gives default_port (pass -1 to require one).
 * Ports are 0-65535. Returns 0 or CT_EINVAL (empty host, bad or missing port, unbalanced
 * brackets, host longer than hostlen - 1).
 */
int ct_addr_split(const char *s, char *host, size_t hostlen, int *port, int default_port);

/* Whether host (no port, no brackets) is a loopback address (127.0.0.0/8, ::1) or "localhost". */
bool ct_addr_is_loopback(const char *host);

#endif
