/* Address parsing (see addr.h). */
#include "addr.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

static int parse_port(const char *p, int *port)
{
    if (*p == '\0' || strlen(p) > 5)
        return CT_EINVAL;
    int v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return CT_EINVAL;
        v = v * 10 + (*p - '0');
    }
    if (v > 65535)
        return CT_EINVAL;
    *port = v;
    return 0;
}

int ct_addr_split(const char *s, char *host, size_t hostlen, int *port, int default_port)
{
    const char *h = s, *colon = NULL;
    size_t hlen;
    if (s == NULL || *s == '\0')
        return CT_EINVAL;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL)
            return CT_EINVAL;
        h = s + 1;
        hlen = (size_t)(close - h);
        if (close[1] == ':')
            colon = close + 1;
        else if (close[1] != '\0')
            return CT_EINVAL;
    } else {
        colon = strrchr(s, ':');
        if (colon != NULL && strchr(s, ':') != colon)
            colon = NULL; /* a bare IPv6 literal: no port */
        hlen = colon != NULL ? (size_t)(colon - s) : strlen(s);
    }
    if (hlen == 0 || hlen >= hostlen)
        return CT_EINVAL;
    if (colon != NULL) {
        if (parse_port(colon + 1, port) != 0)
            return CT_EINVAL;
    } else {
        if (default_port < 0)
            return CT_EINVAL;
        *port = default_port;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    return 0;
}

bool ct_addr_is_loopback(const char *host)
{
    if (strcmp(host, "localhost") == 0)
        return true;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}
