/*
 * `careteamd serve`: the daemon's event loop, listener, signals and orderly shutdown.
 */
#ifndef CT_SERVER_H
#define CT_SERVER_H

#include <stdbool.h>

typedef struct ct_serve_opts {
    const char *dir;        /* data directory made by `careteamd init` */
    const char *listen;     /* overrides the config's listen address if not NULL */
    const char *ready_file; /* if not NULL: written with "HOST:PORT\n" once listening */
    const char *user;       /* account to switch to when started as root (privdrop.h); NULL:
                               the config's `user` */
    bool allow_root;        /* serve as root when no account is named (--allow-root) */
} ct_serve_opts_t;

/* Runs until SIGTERM or SIGINT, then drains and returns 0; returns non-zero (after printing
 * why on stderr) if the daemon cannot start. */
int ct_server_run(const ct_serve_opts_t *opts);

#endif
