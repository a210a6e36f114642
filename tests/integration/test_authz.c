/*
 * The authorization matrix, walked over the wire: every client request type x every role
 * (DESIGN.md section 2: "Every request type x every role is a cell in one authorization table in
 * the code, and a test walks every cell").
 *
 * EXPECTED below is written from DESIGN.md section 2, by hand; it is deliberately NOT read from
 * server/authz.c, so a cell flipped in the code fails here. A reviewer compares the two tables.
 *
 * One test per role, each with its own real careteamd (tests/support/daemon.h): the demo team
 * plus the two roles it lacks (ps.rao peer_supervisor, ad.ops admin), enrolled before the daemon
 * starts. The member of the role connects with the raw TLS client (tests/support/rawtls.h, mutual
 * TLS 1.3), so every request is an explicit frame with a request id the test chose, and says, in
 * order: Hello (1), Ping (2), SendMessage (3), then receives a message from a clinician when its
 * role may receive one, DeliveryAck (4) of that message, AuditQuery (5), and a last Ping (6) that
 * proves a refused request leaves the connection usable. Each cell is checked:
 *   allowed -> the normal response (Welcome, Pong, Ack, Ok, AuditPage), with the request id echoed;
 *   denied  -> Error FORBIDDEN naming the role and the request, and one more failed audit row with
 *              the route's action (ct_test_audit_failures);
 * and at the end every action has exactly the failed rows the denials explain: an allowed cell
 * adds none. The receive rule (compliance and admin do not receive clinical messages) is the last
 * column: a message to a member who may not receive is refused FORBIDDEN, naming the role, and
 * audited as a failed message.send.
 *
 * A last test checks the other direction: every Envelope body that is not a request in the matrix
 * is refused as a protocol violation, so a request type added to the route table without a column
 * here fails this binary.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "careteam.h"
#include "daemon.h"
#include "envelope.h"
#include "err.h"
#include "frame.h"
#include "rawtls.h"
#include "role.h"
#include "testsupport.h"

#define CALL_MS 5000 /* longest wait for a response on a libcareteam connection */

/* ---- the expected matrix (DESIGN.md section 2) ---------------------------------------------- */

/* The client request types of the route table (server/dispatch.c), in the order they are walked. */
enum { HELLO, PING, SEND_MESSAGE, DELIVERY_ACK, AUDIT_QUERY, N_REQUESTS };

static const struct request_type {
    const char *name;                        /* for failure messages */
    const char *field;                       /* the Envelope field, as Error messages name it */
    const char *action;                      /* the route's audit action */
    Careteam__V1__Envelope__BodyCase body;   /* the request */
    Careteam__V1__Envelope__BodyCase answer; /* the normal response when allowed */
} REQUESTS[N_REQUESTS] = {
    [HELLO] = {"Hello", "hello", "session.hello", CARETEAM__V1__ENVELOPE__BODY_HELLO,
               CARETEAM__V1__ENVELOPE__BODY_WELCOME},
    [PING] = {"Ping", "ping", "session.ping", CARETEAM__V1__ENVELOPE__BODY_PING,
              CARETEAM__V1__ENVELOPE__BODY_PONG},
    [SEND_MESSAGE] = {"SendMessage", "send_message", "message.send",
                      CARETEAM__V1__ENVELOPE__BODY_SEND_MESSAGE, CARETEAM__V1__ENVELOPE__BODY_ACK},
    [DELIVERY_ACK] = {"DeliveryAck", "delivery_ack", "message.delivery_ack",
                      CARETEAM__V1__ENVELOPE__BODY_DELIVERY_ACK, CARETEAM__V1__ENVELOPE__BODY_OK},
    [AUDIT_QUERY] = {"AuditQuery", "audit_query", "audit.query",
                     CARETEAM__V1__ENVELOPE__BODY_AUDIT_QUERY,
                     CARETEAM__V1__ENVELOPE__BODY_AUDIT_PAGE},
};

typedef struct role_row {
    const char *role;        /* as `careteamd enroll --role` and Error messages spell it */
    const char *member;      /* a member holding the role */
    bool may[N_REQUESTS];    /* may send: Hello, Ping, SendMessage, DeliveryAck, AuditQuery */
    bool receives;           /* may be the recipient of a clinical message */
    const char *design_says; /* DESIGN.md section 2, for the reviewer */
} role_row_t;

#define Y true
#define N false

/* clang-format off */
enum { PSYCHIATRIST, THERAPIST, PEER_WORKER, PEER_SUPERVISOR, COMPLIANCE, ADMIN, N_ROLES };
static const role_row_t EXPECTED[N_ROLES] = {
    /*                   role               member       Hello Ping Send Ack Audit  receives */
    [PSYCHIATRIST]    = {"psychiatrist",    "dr.ahmed", {Y,    Y,   Y,   Y,  N},    Y,
        "clinician: message team members about participants on their teams"},
    [THERAPIST]       = {"therapist",       "th.lee",   {Y,    Y,   Y,   Y,  N},    Y,
        "clinician: message team members about participants on their teams"},
    [PEER_WORKER]     = {"peer_worker",     "pw.sam",   {Y,    Y,   Y,   Y,  N},    Y,
        "message their team"},
    [PEER_SUPERVISOR] = {"peer_supervisor", "ps.rao",   {Y,    Y,   Y,   Y,  N},    Y,
        "everything a peer worker sees for the peers they supervise"},
    [COMPLIANCE]      = {"compliance",      "co.jones", {Y,    Y,   N,   N,  Y},    N,
        "audit log metadata only; may not send clinical messages or read message bodies"},
    [ADMIN]           = {"admin",           "ad.ops",   {Y,    Y,   N,   N,  N},    N,
        "acts locally on the server host through careteamd subcommands, not over the network"},
};
/* clang-format on */

/* Hello and Ping are the connection preamble and keep-alive of every authenticated member: an
 * admin's or compliance officer's certificate connects, and is then refused everything clinical. */

/* The recipient of every walked SendMessage: a peer worker no walked role is held by. */
#define SEND_TO "pw.kim"
/* A well-formed message id that names no message, for a DeliveryAck by a member who received
 * nothing. A role allowed to send DeliveryAck always receives (checked), so it only ever goes to
 * a refusal, which must come from the role check before the id is looked at. */
#define NO_SUCH_MESSAGE "01890a5d-ac96-774b-bcce-b302099a8057"

/* The care-team workflow requests. Their cells (role x relation to the participant) are walked by
 * test_authz_cells.c; here they only need to be known as requests. A new request type must be
 * added to one of the two binaries, or the last test below fails. */
static const Careteam__V1__Envelope__BodyCase WORKFLOW_REQUESTS[] = {
    CARETEAM__V1__ENVELOPE__BODY_RECORD_CONSENT,   CARETEAM__V1__ENVELOPE__BODY_WITHDRAW_CONSENT,
    CARETEAM__V1__ENVELOPE__BODY_LIST_CONSENTS,    CARETEAM__V1__ENVELOPE__BODY_RECORD_RESTRICTION,
    CARETEAM__V1__ENVELOPE__BODY_LIFT_RESTRICTION, CARETEAM__V1__ENVELOPE__BODY_CREATE_REFERRAL,
    CARETEAM__V1__ENVELOPE__BODY_UPDATE_REFERRAL,  CARETEAM__V1__ENVELOPE__BODY_LIST_REFERRALS,
    CARETEAM__V1__ENVELOPE__BODY_POST_SUMMARY,     CARETEAM__V1__ENVELOPE__BODY_LIST_SUMMARIES,
    CARETEAM__V1__ENVELOPE__BODY_RAISE_CONCERN,    CARETEAM__V1__ENVELOPE__BODY_ACKNOWLEDGE_ALERT,
    CARETEAM__V1__ENVELOPE__BODY_LIST_ALERTS,
};

/* ---- the daemon ------------------------------------------------------------------------------ */

static ct_test_daemon_t g_d;

static void teardown(void)
{
    ct_test_daemon_cleanup(&g_d);
}

/* SIGPIPE is ignored: the raw client may write after a refusal (testsupport.h). */
TestSuite(authz, .init = ct_test_ignore_sigpipe, .fini = teardown, .timeout = 60);

/* The demo team plus the roles it lacks; then serve. */
static void launch(void)
{
    ct_test_daemon_init(&g_d, NULL);
    cr_assert_eq(ct_test_daemon_enroll(&g_d, "ps.rao", "Priya Rao", "peer_supervisor"), 0,
                 "careteamd enroll ps.rao failed; see %s", g_d.log);
    cr_assert_eq(ct_test_daemon_enroll(&g_d, "ad.ops", "Alex Ops", "admin"), 0,
                 "careteamd enroll ad.ops failed; see %s", g_d.log);
    ct_test_daemon_start(&g_d);
}

/* ---- the raw connection of the walked member ------------------------------------------------- */

/* Sends one request of type `req` with request id rid. SendMessage goes to SEND_TO with client
 * message id cmid; DeliveryAck acknowledges message id ack_id. */
static void send_request(ct_test_raw_t *r, int req, uint64_t rid, const char *cmid,
                         const char *ack_id)
{
    Careteam__V1__Hello hello = CARETEAM__V1__HELLO__INIT;
    Careteam__V1__Ping ping = CARETEAM__V1__PING__INIT;
    Careteam__V1__SendMessage send = CARETEAM__V1__SEND_MESSAGE__INIT;
    Careteam__V1__DeliveryAck ack = CARETEAM__V1__DELIVERY_ACK__INIT;
    Careteam__V1__AuditQuery audit = CARETEAM__V1__AUDIT_QUERY__INIT;
    char *to[] = {SEND_TO};
    char *ids[] = {(char *)ack_id};
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.request_id = rid;
    env.body_case = REQUESTS[req].body;
    switch (req) {
    case HELLO:
        hello.client_name = "test-authz";
        hello.protocol_version = CARETEAM__V1__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
        env.hello = &hello;
        break;
    case PING:
        env.ping = &ping;
        break;
    case SEND_MESSAGE:
        send.client_msg_id = (char *)cmid;
        send.n_to = 1;
        send.to = to;
        send.body = "authorization matrix";
        env.send_message = &send;
        break;
    case DELIVERY_ACK:
        ack.n_message_ids = 1;
        ack.message_ids = ids;
        env.delivery_ack = &ack;
        break;
    case AUDIT_QUERY:
        audit.limit = 1;
        env.audit_query = &audit;
        break;
    default:
        cr_assert_fail("no request type %d", req);
    }
    ct_buf_t b = CT_BUF_INIT;
    cr_assert_eq(ct_frame_append_envelope(&b, &env, UINT32_MAX), 0);
    bool ok = ct_test_raw_write(r, b.data, b.len);
    ct_buf_free(&b);
    cr_assert(ok, "writing %s failed: %s", REQUESTS[req].name, r->why);
}

/* Reads the next envelope and asserts it carries request id rid (nothing else came first). The
 * caller frees it with careteam__v1__envelope__free_unpacked. */
static Careteam__V1__Envelope *next_envelope(ct_test_raw_t *r, uint64_t rid, const char *who,
                                             const char *what)
{
    Careteam__V1__Envelope *e = ct_test_raw_read_envelope(r);
    cr_assert_not_null(e, "%s: %s: the connection ended without an answer (%s)", who, what, r->why);
    cr_assert_eq(e->request_id, rid, "%s: %s: expected request id %llu, got '%s' with %llu %s", who,
                 what, (unsigned long long)rid, ct_test_body_name(e),
                 (unsigned long long)e->request_id,
                 e->body_case == CARETEAM__V1__ENVELOPE__BODY_ERROR ? e->error->message : "");
    return e;
}

/* Asserts e is Error `code` whose message names every non-NULL string in `names`. */
static void assert_error(const Careteam__V1__Envelope *e, int code, const char *who,
                         const char *what, const char *name1, const char *name2)
{
    cr_assert_eq(e->body_case, CARETEAM__V1__ENVELOPE__BODY_ERROR,
                 "%s: %s: expected Error %s, got '%s'", who, what, ct_wire_code_name(code),
                 ct_test_body_name(e));
    cr_assert_eq((int)e->error->code, code, "%s: %s: Error %s (%s), expected %s", who, what,
                 ct_wire_code_name((int)e->error->code), e->error->message,
                 ct_wire_code_name(code));
    const char *m = e->error->message != NULL ? e->error->message : "";
    cr_assert(name1 == NULL || strstr(m, name1) != NULL, "%s: %s: the Error should name '%s': %s",
              who, what, name1, m);
    cr_assert(name2 == NULL || strstr(m, name2) != NULL, "%s: %s: the Error should name '%s': %s",
              who, what, name2, m);
}

#define FORBIDDEN CARETEAM__V1__ERROR_CODE__ERROR_CODE_FORBIDDEN

/* The Envelope field name of a body case ("welcome"), for failure messages. */
static const char *body_field(Careteam__V1__Envelope__BodyCase c)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(&careteam__v1__envelope__descriptor, (unsigned)c);
    return f != NULL ? f->name : "?";
}

/* ---- walking one role ------------------------------------------------------------------------ */

typedef struct walk {
    const role_row_t *row;
    ct_test_raw_t raw;
    long before[N_REQUESTS];  /* failed audit rows per action when the walk began */
    long refused[N_REQUESTS]; /* refusals the walk caused since */
    char delivered[37];       /* the message delivered to the member, if any */
} walk_t;

/* Counts one more refusal of action `req` and waits until its failed audit row is committed. */
static void expect_audited_refusal(walk_t *w, int req)
{
    w->refused[req]++;
    ct_test_await_audit_failures(&g_d, REQUESTS[req].action, w->before[req] + w->refused[req]);
}

/* Sends request `req` as the walked member and checks its cell. Returns false when the refusal
 * closed the connection (a refused Hello). */
static bool walk_cell(walk_t *w, int req, uint64_t rid, const char *ack_id)
{
    const role_row_t *row = w->row;
    const char *name = REQUESTS[req].name;
    char cmid[64];
    snprintf(cmid, sizeof cmid, "authz-%s", row->role);
    send_request(&w->raw, req, rid, cmid, ack_id);
    Careteam__V1__Envelope *e = next_envelope(&w->raw, rid, row->member, name);

    if (!row->may[req]) {
        assert_error(e, FORBIDDEN, row->member, name, row->role, REQUESTS[req].field);
        cr_log_info("%s (%s) %s: FORBIDDEN: %s", row->member, row->role, name, e->error->message);
        careteam__v1__envelope__free_unpacked(e, NULL);
        expect_audited_refusal(w, req);
        if (req != HELLO)
            return true;
        /* A refused Hello leaves the connection useless: the server closes it. */
        Careteam__V1__Envelope *more = ct_test_raw_read_envelope(&w->raw);
        if (more != NULL) {
            char what[64];
            snprintf(what, sizeof what, "%s", ct_test_body_name(more));
            careteam__v1__envelope__free_unpacked(more, NULL);
            cr_assert_fail("%s: the connection stayed open after a refused Hello (sent '%s')",
                           row->member, what);
        }
        return false;
    }

    cr_assert_eq(e->body_case, REQUESTS[req].answer,
                 "%s (%s) may send %s: expected '%s', got '%s' %s", row->member, row->role, name,
                 body_field(REQUESTS[req].answer), ct_test_body_name(e),
                 e->body_case == CARETEAM__V1__ENVELOPE__BODY_ERROR ? e->error->message : "");
    switch (req) {
    case HELLO:
        cr_assert_str_eq(e->welcome->member_id, row->member);
        cr_assert_str_eq(ct_role_name((ct_role_t)e->welcome->role), row->role,
                         "%s is enrolled with the wrong role", row->member);
        break;
    case SEND_MESSAGE:
        cr_assert_str_eq(e->ack->client_msg_id, cmid);
        cr_assert_not(e->ack->duplicate);
        break;
    default:
        break;
    }
    careteam__v1__envelope__free_unpacked(e, NULL);
    if (req == HELLO) {
        /* The empty inbox's replay ends at once. */
        Careteam__V1__Envelope *rc = next_envelope(&w->raw, 0, row->member, "after Welcome");
        cr_assert_eq(rc->body_case, CARETEAM__V1__ENVELOPE__BODY_REPLAY_COMPLETE, "%s: got '%s'",
                     row->member, ct_test_body_name(rc));
        cr_assert_eq(rc->replay_complete->replayed, 0);
        careteam__v1__envelope__free_unpacked(rc, NULL);
    }
    return true;
}

/* The receive column: a clinician sends the walked member a message. It is delivered when the
 * role may receive (its id kept for the DeliveryAck cell), refused FORBIDDEN naming the role and
 * audited as a failed message.send otherwise. */
static void walk_receive(walk_t *w)
{
    const role_row_t *row = w->row;
    const char *sender = strcmp(row->member, "dr.ahmed") != 0 ? "dr.ahmed" : "th.lee";
    ct_sync_t *s = ct_test_connect(&g_d, sender);
    const char *to[] = {row->member};
    char cmid[64];
    snprintf(cmid, sizeof cmid, "authz-to-%s", row->role);
    ct_send_args_t a = {.client_msg_id = cmid, .to = to, .n_to = 1, .body = "for your eyes"};
    Careteam__V1__Envelope *resp = NULL;
    int rc = ct_sync_send_message(s, &a, CALL_MS, &resp);
    cr_assert_eq(rc, 0, "%s: SendMessage to %s: %s (%s)", sender, row->member, ct_errname(rc),
                 ct_sync_last_error(s));

    if (!row->receives) {
        char what[128];
        snprintf(what, sizeof what, "SendMessage to %s (%s)", row->member, row->role);
        assert_error(resp, FORBIDDEN, sender, what, row->role, row->member);
        cr_log_info("%s: FORBIDDEN: %s", what, resp->error->message);
        ct_envelope_free(resp);
        ct_sync_close(s);
        expect_audited_refusal(w, SEND_MESSAGE);
        return;
    }
    cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_ACK,
                 "%s (%s) receives messages: %s's send answered '%s' %s", row->member, row->role,
                 sender, ct_test_body_name(resp), ct_response_message(resp));
    snprintf(w->delivered, sizeof w->delivered, "%s", resp->ack->message_id);
    ct_envelope_free(resp);
    ct_sync_close(s);

    Careteam__V1__Envelope *p = next_envelope(&w->raw, 0, row->member, "the message sent to it");
    cr_assert_eq(p->body_case, CARETEAM__V1__ENVELOPE__BODY_DELIVER, "%s: push '%s'", row->member,
                 ct_test_body_name(p));
    cr_assert_str_eq(p->deliver->message->message_id, w->delivered);
    careteam__v1__envelope__free_unpacked(p, NULL);
}

/* Every cell of one role's row, on one daemon. */
static void walk_role(int role)
{
    const role_row_t *row = &EXPECTED[role];
    cr_log_info("walking %s (%s): %s", row->role, row->member, row->design_says);
    /* A member who may not acknowledge deliveries could never be rid of a message: the matrix
     * itself must not ask for that. */
    cr_assert(row->may[DELIVERY_ACK] == row->receives,
              "EXPECTED: %s receives messages %s, but DeliveryAck is %s", row->role,
              row->receives ? "yes" : "no", row->may[DELIVERY_ACK] ? "allowed" : "denied");

    launch();
    walk_t w = {.row = row};
    for (int req = 0; req < N_REQUESTS; req++)
        w.before[req] = ct_test_audit_failures(&g_d, REQUESTS[req].action);
    cr_assert(ct_test_raw_connect(&w.raw, &g_d, row->member, TLS1_3_VERSION, TLS1_3_VERSION),
              "TLS handshake as %s failed: %s", row->member, w.raw.why);

    if (walk_cell(&w, HELLO, 1, NULL)) {
        walk_cell(&w, PING, 2, NULL);
        walk_cell(&w, SEND_MESSAGE, 3, NULL);
        walk_receive(&w);
        walk_cell(&w, DELIVERY_ACK, 4, w.delivered[0] ? w.delivered : NO_SUCH_MESSAGE);
        walk_cell(&w, AUDIT_QUERY, 5, NULL);
        /* After any refusals the connection still answers in order. */
        walk_cell(&w, PING, 6, NULL);
    } else {
        /* Nothing but Hello may come first, so a role refused Hello can do nothing else. */
        for (int req = 0; req < N_REQUESTS; req++)
            cr_assert_not(row->may[req], "EXPECTED: %s may not say Hello, yet may send %s",
                          row->role, REQUESTS[req].name);
    }
    ct_test_raw_close(&w.raw);

    /* Exactly the refusals above failed: an allowed cell adds no failed row. (The writer commits
     * in order, and the last answer above came after the last row of this walk was queued.) */
    for (int req = 0; req < N_REQUESTS; req++) {
        ct_test_await_audit_failures(&g_d, REQUESTS[req].action, w.before[req] + w.refused[req]);
        cr_assert_eq(ct_test_audit_failures(&g_d, REQUESTS[req].action),
                     w.before[req] + w.refused[req], "%s (%s): failed %s rows", row->member,
                     row->role, REQUESTS[req].action);
    }
    ct_test_daemon_finish(&g_d);
}

Test(authz, psychiatrist)
{
    walk_role(PSYCHIATRIST);
}

Test(authz, therapist)
{
    walk_role(THERAPIST);
}

Test(authz, peer_worker)
{
    walk_role(PEER_WORKER);
}

Test(authz, peer_supervisor)
{
    walk_role(PEER_SUPERVISOR);
}

Test(authz, compliance)
{
    walk_role(COMPLIANCE);
}

Test(authz, admin)
{
    walk_role(ADMIN);
}

/* ---- the matrix covers every request --------------------------------------------------------- */

/* Every other Envelope body (what the server sends) is no request at all: refused as a protocol
 * violation and the connection closed. A body that became a request in the route table answers
 * otherwise, and this fails until the matrix has a column for it. */
Test(authz, every_other_body_is_not_a_request)
{
    launch();
    const ProtobufCMessageDescriptor *ed = &careteam__v1__envelope__descriptor;
    long before = ct_test_audit_failures(&g_d, "protocol.violation");
    long walked = 0;
    for (unsigned i = 0; i < ed->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &ed->fields[i];
        if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
            continue;
        bool in_matrix = false;
        for (int req = 0; req < N_REQUESTS; req++)
            in_matrix = in_matrix || (unsigned)REQUESTS[req].body == f->id;
        for (size_t k = 0; k < sizeof WORKFLOW_REQUESTS / sizeof WORKFLOW_REQUESTS[0]; k++)
            in_matrix = in_matrix || (unsigned)WORKFLOW_REQUESTS[k] == f->id;
        if (in_matrix)
            continue;

        /* An Envelope with this body, an empty message of its type. */
        const ProtobufCMessageDescriptor *md = f->descriptor;
        void *sub = calloc(1, md->sizeof_message);
        cr_assert_not_null(sub);
        protobuf_c_message_init(md, sub);
        Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
        env.request_id = 100 + f->id;
        env.body_case = (Careteam__V1__Envelope__BodyCase)f->id;
        memcpy((char *)&env + f->offset, &sub, sizeof sub);
        ct_buf_t b = CT_BUF_INIT;
        cr_assert_eq(ct_frame_append_envelope(&b, &env, UINT32_MAX), 0);
        free(sub);

        ct_test_raw_t r;
        cr_assert(ct_test_raw_connect(&r, &g_d, "dr.ahmed", TLS1_3_VERSION, TLS1_3_VERSION),
                  "TLS handshake failed: %s", r.why);
        bool ok = ct_test_raw_write(&r, b.data, b.len);
        ct_buf_free(&b);
        cr_assert(ok, "writing '%s' failed: %s", f->name, r.why);
        Careteam__V1__Envelope *e = next_envelope(&r, env.request_id, "dr.ahmed", f->name);
        assert_error(e, ct_err_to_wire(CT_EPROTO), "dr.ahmed", f->name, f->name, NULL);
        careteam__v1__envelope__free_unpacked(e, NULL);
        Careteam__V1__Envelope *more = ct_test_raw_read_envelope(&r);
        if (more != NULL) {
            careteam__v1__envelope__free_unpacked(more, NULL);
            cr_assert_fail("'%s': the connection stayed open after a protocol violation", f->name);
        }
        ct_test_raw_close(&r);
        walked++;
        ct_test_await_audit_failures(&g_d, "protocol.violation", before + walked);
    }
    cr_assert_gt(walked, 0, "no Envelope body outside the matrix?");
    cr_log_info("%ld bodies outside the matrix refused as protocol violations", walked);
    ct_test_daemon_finish(&g_d);
}
