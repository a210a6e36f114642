/*
 * Acknowledging delivered messages, for inbox and watch.
 *
 * Both commands call ct_cli_ack only after the messages were written and flushed to stdout
 * without error (see cli.h), so an acknowledged message is one the reader has.
 */
#include "cli.h"

/* Most message ids in one DeliveryAck, so one ack frame stays far below the 1 MiB frame limit
 * (1024 x 36-byte ids is about 40 KB). */
#define ACK_BATCH 1024

int ct_cli_ack(cli_t *cli, ct_sync_t *s, const char *const *ids, size_t n)
{
    for (size_t i = 0; i < n; i += ACK_BATCH) {
        size_t k = n - i < ACK_BATCH ? n - i : ACK_BATCH;
        Careteam__V1__Envelope *resp = NULL;
        int r = ct_sync_delivery_ack(s, ids + i, k, cli->request_timeout_ms, &resp);
        int rc = ct_cli_check_answer(cli, s, r, resp, "marking messages as received");
        ct_envelope_free(resp);
        if (rc != 0)
            return rc;
    }
    return 0;
}
