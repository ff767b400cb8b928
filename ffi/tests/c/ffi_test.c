/*
 * Tests of the wsbeat C API, run by ffi/tests/ffi_c.rs against the in-process EchoServer.
 *
 * Usage: ffi_test <ws-url> <cycles> <check-rss 0|1> <auth-ws-url>
 *
 * Prints "ok <name>" per passed test, "RESTART" when the driver must restart the server
 * (the test then waits for the reconnect), "ROTATE <token>" when the driver must make the
 * auth server (which answers 401 unless `Authorization: Bearer <token>`) accept only the new
 * token and restart it, "CLOSE_ALL <code>" when the echo server must close every connection
 * with that code, and "FAIL ..." followed by exit status 1 on the first failure. Every wait is bounded; synchronisation is on events, never on sleeps.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wsbeat.h"

#define WAIT_S 30

#include "check.h"

/* ---- a recorder of events, filled on the I/O thread ------------------------------------ */

typedef struct recorder {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int counts[10];
    int opened_reconnect;
    char last_text[256];
    int texts;
    int binaries;
    unsigned char last_binary[16];
    size_t last_binary_len;
    uint16_t close_code;
    ws_close_initiator initiator;
    bool will_reconnect;
    ws_stop_reason stop_reason;
    size_t stopped_messages;
    /* For re-entrancy tests: the client, set by the main thread after ws_connect. */
    ws_client *self;
    ws_result send_in_cb;
    ws_result free_in_cb;
    ws_result close_in_cb;
    ws_result on_event_in_cb;
    int in_callback_replaced;
    int slow_started;
    int slow_finished;
    /* Texts "seq:<n>" must arrive as 0, 1, 2, ...: the next expected and the misses. */
    long next_seq;
    int seq_errors;
} recorder;

static void rec_init(recorder *r) {
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->send_in_cb = r->free_in_cb = r->close_in_cb = r->on_event_in_cb = WS_ERR_PANIC;
}

static void rec_destroy(recorder *r) {
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
}

static void on_event(void *userdata, const ws_event *ev);

static void replaced_callback(void *userdata, const ws_event *ev) {
    recorder *r = (recorder *)userdata;
    (void)ev;
    pthread_mutex_lock(&r->mu);
    r->in_callback_replaced++;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static void on_event(void *userdata, const ws_event *ev) {
    recorder *r = (recorder *)userdata;
    if (getenv("WSBEAT_TRACE") != NULL) {
        printf("event %s code %u text %s\n", ws_event_kind_str(ev->kind), (unsigned)ev->close_code,
               ev->text);
    }
    pthread_mutex_lock(&r->mu);
    if (ev->kind < 10) {
        r->counts[ev->kind]++;
    }
    ws_client *self = r->self;
    switch (ev->kind) {
    case WS_EVENT_OPENED:
        if (ev->reconnect) {
            r->opened_reconnect++;
        }
        break;
    case WS_EVENT_TEXT: {
        size_t n = ev->len < sizeof r->last_text - 1 ? ev->len : sizeof r->last_text - 1;
        memcpy(r->last_text, ev->data, n);
        r->last_text[n] = '\0';
        /* data is NUL-terminated beyond len */
        if (ev->data[ev->len] != '\0') {
            r->last_text[0] = '!';
        }
        if (ev->len > 4 && memcmp(ev->data, "seq:", 4) == 0) {
            if (strtol((const char *)ev->data + 4, NULL, 10) != r->next_seq) {
                r->seq_errors++;
            }
            r->next_seq++;
        }
        r->texts++;
        break;
    }
    case WS_EVENT_BINARY: {
        size_t n = ev->len < sizeof r->last_binary ? ev->len : sizeof r->last_binary;
        memcpy(r->last_binary, ev->data, n);
        r->last_binary_len = ev->len;
        r->binaries++;
        break;
    }
    case WS_EVENT_CLOSED:
        r->close_code = ev->close_code;
        r->initiator = ev->initiator;
        r->will_reconnect = ev->will_reconnect;
        CHECK(ev->text != NULL && strlen(ev->text) == ev->text_len);
        break;
    case WS_EVENT_STOPPED:
        r->stop_reason = ev->stop_reason;
        r->stopped_messages = ev->message_count;
        break;
    case WS_EVENT_ERROR:
        CHECK(ev->text != NULL && ev->text_len > 0);
        CHECK(ev->error_kind != WS_ERROR_NONE);
        break;
    default:
        break;
    }
    pthread_mutex_unlock(&r->mu);

    /* Calls back into the library from inside the callback (no lock held). */
    if (ev->kind == WS_EVENT_TEXT && self != NULL) {
        if (ev->len == 12 && memcmp(ev->data, "please-reply", 12) == 0) {
            const char *reply = "reply-from-callback";
            ws_result s = ws_send(self, (const uint8_t *)reply, strlen(reply), WS_MESSAGE_TEXT);
            ws_result f = ws_free(self); /* must be refused, not UB */
            ws_result o = ws_on_event(self, on_event, r); /* same callback: allowed */
            pthread_mutex_lock(&r->mu);
            r->send_in_cb = s;
            r->free_in_cb = f;
            r->on_event_in_cb = o;
            pthread_mutex_unlock(&r->mu);
        } else if (ev->len == 4 && memcmp(ev->data, "slow", 4) == 0) {
            pthread_mutex_lock(&r->mu);
            r->slow_started = 1;
            pthread_cond_broadcast(&r->cv);
            pthread_mutex_unlock(&r->mu);
            /* Stay inside the callback for a while: a window for ws_on_event on another
             * thread, which must wait for this callback to return. */
            struct timespec pause = {0, 300 * 1000000L};
            nanosleep(&pause, NULL);
            pthread_mutex_lock(&r->mu);
            r->slow_finished = 1;
            pthread_mutex_unlock(&r->mu);
        } else if (ev->len == 8 && memcmp(ev->data, "close-me", 8) == 0) {
            ws_result c = ws_close(self, 4000, "from-callback");
            pthread_mutex_lock(&r->mu);
            r->close_in_cb = c;
            pthread_mutex_unlock(&r->mu);
        }
    }
    pthread_mutex_lock(&r->mu);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* Wait (bounded) until pred(r) holds; returns its final value. */
static int wait_for(recorder *r, int (*pred)(const recorder *), int seconds) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += seconds;
    pthread_mutex_lock(&r->mu);
    int ok_ = pred(r);
    while (!ok_) {
        int e = pthread_cond_timedwait(&r->cv, &r->mu, &deadline);
        ok_ = pred(r);
        if (e == ETIMEDOUT) {
            break;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return ok_;
}

static int is_open(const recorder *r) { return r->counts[WS_EVENT_OPENED] >= 1; }
static int is_stopped(const recorder *r) { return r->counts[WS_EVENT_STOPPED] >= 1; }
static int has_reconnected(const recorder *r) { return r->opened_reconnect >= 1; }
static int got_hello(const recorder *r) { return strcmp(r->last_text, "hello world") == 0; }
static int got_binary(const recorder *r) { return r->binaries >= 1; }
static int got_reply(const recorder *r) {
    return strcmp(r->last_text, "reply-from-callback") == 0;
}
static int got_after(const recorder *r) { return strcmp(r->last_text, "after-restart") == 0; }
static int got_replaced(const recorder *r) { return r->in_callback_replaced >= 1; }
static int slow_started(const recorder *r) { return r->slow_started; }

static void set_self(recorder *r, ws_client *c) {
    pthread_mutex_lock(&r->mu);
    r->self = c;
    pthread_mutex_unlock(&r->mu);
}

static ws_result send_str(const ws_client *c, const char *s) {
    return ws_send(c, (const uint8_t *)s, strlen(s), WS_MESSAGE_TEXT);
}

/* A config with short timings for tests. */
static ws_config *test_config(void) {
    ws_config *cfg = ws_config_new();
    CHECK(cfg != NULL);
    CHECK_RES(ws_config_set_heartbeat(cfg, WS_HEARTBEAT_PING, 2000, 1000), WS_OK);
    CHECK_RES(ws_config_set_backoff(cfg, 50, 200, 2.0, 0.0), WS_OK);
    CHECK_RES(ws_config_set_close_timeout(cfg, 2000), WS_OK);
    CHECK_RES(ws_config_set_connect_timeout(cfg, 5000), WS_OK);
    return cfg;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_misuse(void) {
    ws_client *c = (ws_client *)&c; /* must be overwritten with NULL on failure */
    ws_event ev;
    ws_client_stats st;
    ws_client_state state;

    CHECK(ws_version() != NULL && strlen(ws_version()) > 0);
    /* The header and the library it is linked with come from the same build. */
    CHECK(strcmp(ws_version(), WSBEAT_VERSION) == 0);
    CHECK(strcmp(ws_result_str(WS_OK), "success") == 0);
    for (uint32_t i = 0; i <= WS_ERR_PANIC; i++) {
        CHECK(ws_result_str(i) != NULL && strlen(ws_result_str(i)) > 0);
    }
    CHECK(strcmp(ws_result_str(9999), "unknown result code") == 0);
    CHECK(strcmp(ws_event_kind_str(WS_EVENT_STOPPED), "stopped") == 0);
    CHECK(strcmp(ws_event_kind_str(77), "unknown") == 0);
    CHECK(strcmp(ws_error_kind_str(WS_ERROR_TLS), "tls") == 0);

    /* connect */
    CHECK_RES(ws_connect(NULL, NULL, NULL, NULL, &c), WS_ERR_NULL_ARGUMENT);
    CHECK(c == NULL);
    CHECK(strstr(ws_last_error(), "url") != NULL);
    CHECK_RES(ws_connect("ws://127.0.0.1:1", NULL, NULL, NULL, NULL), WS_ERR_NULL_ARGUMENT);
    c = (ws_client *)&c;
    CHECK_RES(ws_connect("http://127.0.0.1:1", NULL, on_event, NULL, &c), WS_ERR_INVALID_URL);
    CHECK(c == NULL);
    CHECK(strstr(ws_last_error(), "scheme") != NULL);
    CHECK_RES(ws_connect("not a url", NULL, NULL, NULL, &c), WS_ERR_INVALID_URL);
    CHECK_RES(ws_connect("ws://\xff\xfe", NULL, NULL, NULL, &c), WS_ERR_INVALID_UTF8);

    /* client functions with NULL */
    CHECK_RES(ws_send(NULL, (const uint8_t *)"x", 1, WS_MESSAGE_TEXT), WS_ERR_NULL_ARGUMENT);
    CHECK_RES(ws_close(NULL, 1000, "x"), WS_ERR_NULL_ARGUMENT);
    CHECK_RES(ws_reconnect_now(NULL), WS_ERR_NULL_ARGUMENT);
    CHECK_RES(ws_state(NULL, &state), WS_ERR_NULL_ARGUMENT);
    CHECK_RES(ws_stats(NULL, &st), WS_ERR_NULL_ARGUMENT);
    CHECK_RES(ws_next_event(NULL, 0, &ev), WS_ERR_NULL_ARGUMENT);
    CHECK_RES(ws_event_release(NULL), WS_ERR_NULL_ARGUMENT);
    CHECK_RES(ws_on_event(NULL, on_event, NULL), WS_ERR_NULL_ARGUMENT);
    CHECK_RES(ws_free(NULL), WS_OK);
    ws_config_free(NULL);

    /* config */
    ws_config *cfg = ws_config_new();
    CHECK_RES(ws_config_set_heartbeat(NULL, WS_HEARTBEAT_PING, 2000, 1000),
              WS_ERR_NULL_ARGUMENT);
    CHECK_RES(ws_config_set_heartbeat(cfg, 99, 2000, 1000), WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_config_set_heartbeat(cfg, WS_HEARTBEAT_PING, 1000, 1000),
              WS_ERR_INVALID_ARGUMENT);
    CHECK(strstr(ws_last_error(), "shorter") != NULL);
    CHECK_RES(ws_config_set_heartbeat(cfg, WS_HEARTBEAT_SEED_JSON, 0, 0),
              WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_config_set_heartbeat(cfg, WS_HEARTBEAT_PING, WS_MAX_DURATION_MS + 1, 10),
              WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_config_set_heartbeat(cfg, WS_HEARTBEAT_OFF, 0, 0), WS_OK);
    CHECK_RES(ws_config_set_heartbeat(cfg, WS_HEARTBEAT_SEED_JSON, 4000, 2000), WS_OK);
    CHECK_RES(ws_config_set_backoff(cfg, 0, 100, 2.0, 0.5), WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_config_set_backoff(cfg, 200, 100, 2.0, 0.5), WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_config_set_backoff(cfg, 100, 200, 0.5, 0.5), WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_config_set_backoff(cfg, 100, 200, NAN, 0.5), WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_config_set_backoff(cfg, 100, 200, 2.0, 1.5), WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_config_set_backoff(cfg, 100, 200, 2.0, -0.1), WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_config_set_backoff(cfg, 3000, 3000, 1.0, 0.0), WS_OK);
    CHECK_RES(ws_config_set_reconnect(NULL, true), WS_ERR_NULL_ARGUMENT);
    CHECK_RES(ws_config_set_reconnect(cfg, true), WS_OK);
    CHECK_RES(ws_config_set_max_attempts(cfg, 0), WS_OK);
    CHECK_RES(ws_config_set_min_uptime(cfg, WS_MAX_DURATION_MS + 1), WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_config_set_min_uptime(cfg, 0), WS_OK);
    CHECK_RES(ws_config_set_retry_after_cap(cfg, 1000), WS_OK);
    CHECK_RES(ws_config_set_retry_certificate_errors(cfg, false), WS_OK);
    CHECK_RES(ws_config_set_outbox_limits(cfg, 0, 10), WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_config_set_outbox_limits(cfg, 10, 0), WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_config_set_outbox_limits(cfg, 10, 1000), WS_OK);
    CHECK_RES(ws_config_set_max_message_size(cfg, 0), WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_config_set_max_message_size(cfg, 1 << 20), WS_OK);
    CHECK_RES(ws_config_set_compression(NULL, true, 15, false, 64), WS_ERR_NULL_ARGUMENT);
    CHECK_RES(ws_config_set_compression(cfg, true, 8, false, 64), WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_config_set_compression(cfg, true, 16, false, 64), WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_config_set_compression(cfg, true, 12, true, 0), WS_OK);
    CHECK_RES(ws_config_set_compression(cfg, false, 0, false, 0), WS_OK);
    CHECK_RES(ws_config_set_connect_timeout(cfg, 0), WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_config_set_proxy(NULL, ""), WS_ERR_NULL_ARGUMENT);
    CHECK_RES(ws_config_set_proxy(cfg, "ftp://proxy:21"), WS_ERR_INVALID_URL);
    CHECK_RES(ws_config_set_proxy(cfg, "https://proxy:3128/path"), WS_ERR_INVALID_URL);
    CHECK_RES(ws_config_set_proxy(cfg, "https://u:p@proxy:3129"), WS_OK);
    CHECK_RES(ws_config_set_proxy(cfg, "http://proxy:3128/path"), WS_ERR_INVALID_URL);
    CHECK_RES(ws_config_set_proxy(cfg, "\xc3\x28"), WS_ERR_INVALID_UTF8);
    CHECK_RES(ws_config_set_proxy(cfg, "socks5h://u:p@127.0.0.1:1080"), WS_OK);
    CHECK_RES(ws_config_set_proxy(cfg, ""), WS_OK);
    CHECK_RES(ws_config_set_proxy(cfg, NULL), WS_OK);
    CHECK_RES(ws_config_set_close_timeout(cfg, 0), WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_config_set_event_capacity(cfg, 0), WS_ERR_INVALID_ARGUMENT);
    /* Every number has a range (issue 12 #5): 1 << 40 slots used to be allocated at
     * ws_connect (the process aborted), SIZE_MAX returned WS_ERR_PANIC, and an outbox bound
     * of 2^62 wrapped the unconfirmed window to 0. */
    CHECK_RES(ws_config_set_event_capacity(cfg, (size_t)1 << 40), WS_ERR_INVALID_ARGUMENT);
    CHECK(strstr(ws_last_error(), "event capacity") != NULL);
    CHECK_RES(ws_config_set_event_capacity(cfg, SIZE_MAX), WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_config_set_event_capacity(cfg, WS_MAX_EVENT_CAPACITY + 1),
              WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_config_set_event_capacity(cfg, WS_MAX_EVENT_CAPACITY), WS_OK);
    CHECK_RES(ws_config_set_event_capacity(cfg, 256), WS_OK);
    CHECK_RES(ws_config_set_outbox_limits(cfg, (size_t)1 << 62, 1000), WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_config_set_outbox_limits(cfg, SIZE_MAX, 1000), WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_config_set_outbox_limits(cfg, 10, SIZE_MAX), WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_config_set_max_message_size(cfg, SIZE_MAX), WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_config_set_max_message_size(cfg, WS_MAX_MESSAGE_SIZE), WS_OK);
    CHECK_RES(ws_config_set_max_message_size(cfg, 1 << 20), WS_OK);
    CHECK_RES(ws_config_add_header(cfg, NULL, "v"), WS_ERR_NULL_ARGUMENT);
    CHECK_RES(ws_config_add_header(cfg, "X-Ok", NULL), WS_ERR_NULL_ARGUMENT);
    CHECK_RES(ws_config_add_header(cfg, "bad name", "v"), WS_ERR_INVALID_HEADER);
    CHECK_RES(ws_config_add_header(cfg, "X-Bad", "line\nbreak"), WS_ERR_INVALID_HEADER);
    CHECK_RES(ws_config_add_header(cfg, "X-Utf8", "\xc3\x28"), WS_ERR_INVALID_UTF8);
    CHECK_RES(ws_config_add_header(cfg, "X-Ok", "fine"), WS_OK);
    CHECK_RES(ws_config_add_subprotocol(cfg, ""), WS_ERR_INVALID_HEADER);
    CHECK_RES(ws_config_add_subprotocol(cfg, "a,b"), WS_ERR_INVALID_HEADER);
    CHECK_RES(ws_config_add_subprotocol(cfg, NULL), WS_ERR_NULL_ARGUMENT);
    CHECK_RES(ws_config_add_subprotocol(cfg, "chat.v1"), WS_OK);
    CHECK_RES(ws_config_tls_add_ca_pem(cfg, NULL, 10), WS_ERR_NULL_ARGUMENT);
    CHECK_RES(ws_config_tls_add_ca_pem(cfg, (const uint8_t *)"x", 0), WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_config_tls_add_ca_file(cfg, "/nonexistent/ca.pem"), WS_ERR_TLS);
    CHECK_RES(ws_config_tls_set_client_cert_pem(cfg, NULL, 0, NULL, 0), WS_ERR_NULL_ARGUMENT);
    CHECK_RES(ws_config_tls_set_bundled_roots(cfg, true), WS_OK);
    CHECK_RES(ws_config_tls_set_native_roots(cfg, false), WS_OK);
    CHECK_RES(ws_config_tls_dangerous_disable_verification(cfg, false), WS_OK);
    /* A bad CA PEM is found by ws_connect for wss:// URLs. */
    ws_config *tls = ws_config_new();
    const char *garbage = "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n";
    CHECK_RES(ws_config_tls_add_ca_pem(tls, (const uint8_t *)garbage, strlen(garbage)), WS_OK);
    CHECK_RES(ws_connect("wss://127.0.0.1:1", tls, NULL, NULL, &c), WS_ERR_TLS);
    CHECK(c == NULL);
    ws_config_free(tls);
    ws_config_free(cfg);

    /* logger */
    CHECK_RES(ws_set_logger(NULL, NULL, WS_LOG_INFO), WS_ERR_NULL_ARGUMENT);
    ok("misuse");
}

static void test_client_misuse(const char *url) {
    recorder r;
    rec_init(&r);
    ws_config *cfg = test_config();
    ws_client *c = NULL;
    CHECK_RES(ws_connect(url, cfg, on_event, &r, &c), WS_OK);
    ws_config_free(cfg); /* the client keeps its own copy */
    CHECK(wait_for(&r, is_open, WAIT_S));

    ws_event ev;
    const uint8_t bad_utf8[] = {0x68, 0xc3, 0x28};
    CHECK_RES(ws_send(c, bad_utf8, sizeof bad_utf8, WS_MESSAGE_TEXT), WS_ERR_INVALID_UTF8);
    CHECK_RES(ws_send(c, bad_utf8, sizeof bad_utf8, 0), WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_send(c, bad_utf8, sizeof bad_utf8, 3), WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_send(c, NULL, 5, WS_MESSAGE_BINARY), WS_ERR_NULL_ARGUMENT);
    CHECK_RES(ws_close(c, 999, "x"), WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_close(c, 1005, "x"), WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_close(c, 5000, "x"), WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_close(c, 1000, "\xff"), WS_ERR_INVALID_UTF8);
    char long_reason[200];
    memset(long_reason, 'r', sizeof long_reason - 1);
    long_reason[sizeof long_reason - 1] = '\0';
    CHECK_RES(ws_close(c, 1000, long_reason), WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_next_event(c, 0, &ev), WS_ERR_WRONG_MODE);
    CHECK_RES(ws_on_event(c, NULL, NULL), WS_ERR_NULL_ARGUMENT);
    CHECK_RES(ws_state(c, NULL), WS_ERR_NULL_ARGUMENT);
    CHECK_RES(ws_stats(c, NULL), WS_ERR_NULL_ARGUMENT);
    ws_client_state state = WS_STATE_STOPPED;
    CHECK_RES(ws_state(c, &state), WS_OK);
    CHECK(state == WS_STATE_OPEN);
    /* An empty binary message with a NULL pointer is fine. */
    CHECK_RES(ws_send(c, NULL, 0, WS_MESSAGE_BINARY), WS_OK);
    CHECK_RES(ws_free(c), WS_OK);
    CHECK(r.counts[WS_EVENT_STOPPED] == 1); /* delivered before ws_free returned */
    rec_destroy(&r);
    ok("client_misuse");
}

static void test_push_echo_reconnect_close(const char *url) {
    recorder r, r2;
    rec_init(&r);
    rec_init(&r2);
    ws_config *cfg = test_config();
    CHECK_RES(ws_config_set_heartbeat(cfg, WS_HEARTBEAT_SEED_JSON, 2000, 1000), WS_OK);
    ws_client *c = NULL;
    /* Sent before the connection opens: waits in the outbox. */
    CHECK_RES(ws_connect(url, cfg, on_event, &r, &c), WS_OK);
    ws_config_free(cfg);
    set_self(&r, c);
    CHECK_RES(send_str(c, "{\"ModeCode\":\"message\",\"msg\":\"hello world\"}"), WS_OK);
    CHECK(wait_for(&r, is_open, WAIT_S));
    CHECK(r.counts[WS_EVENT_CONNECTING] >= 1);
    ok("push_open");

    /* echo */
    CHECK_RES(send_str(c, "hello world"), WS_OK);
    CHECK(wait_for(&r, got_hello, WAIT_S));
    const uint8_t bin[] = {0, 1, 2, 255};
    CHECK_RES(ws_send(c, bin, sizeof bin, WS_MESSAGE_BINARY), WS_OK);
    CHECK(wait_for(&r, got_binary, WAIT_S));
    CHECK(r.last_binary_len == 4 && memcmp(r.last_binary, bin, 4) == 0);
    ok("push_echo");

    /* re-entrancy: the callback sends, tries to free (refused) and re-registers */
    CHECK_RES(send_str(c, "please-reply"), WS_OK);
    CHECK(wait_for(&r, got_reply, WAIT_S));
    pthread_mutex_lock(&r.mu);
    CHECK(r.send_in_cb == WS_OK);
    CHECK(r.free_in_cb == WS_ERR_IN_CALLBACK);
    CHECK(r.on_event_in_cb == WS_OK);
    pthread_mutex_unlock(&r.mu);
    ok("callback_reentrancy");

    ws_client_stats st;
    CHECK_RES(ws_stats(c, &st), WS_OK);
    CHECK(st.connects == 1 && st.reconnects == 0);
    CHECK(st.messages_out >= 4 && st.messages_in >= 3);
    CHECK(st.uptime_ms >= 0);
    CHECK(st.last_close_code == 0 && st.last_close_reason[0] == '\0');
    ok("stats");

    /* reconnect after a server restart */
    printf("RESTART\n");
    fflush(stdout);
    CHECK(wait_for(&r, has_reconnected, WAIT_S));
    CHECK(r.counts[WS_EVENT_CLOSED] >= 1);
    CHECK(r.counts[WS_EVENT_RECONNECTING] >= 1);
    CHECK_RES(send_str(c, "after-restart"), WS_OK);
    CHECK(wait_for(&r, got_after, WAIT_S));
    CHECK_RES(ws_stats(c, &st), WS_OK);
    printf("after restart: reconnects %llu, last close %u \"%s\"\n", (unsigned long long)st.reconnects,
           (unsigned)st.last_close_code, st.last_close_reason);
    pthread_mutex_lock(&r.mu);
    CHECK(st.reconnects >= 1 && st.last_close_code == r.close_code);
    /* the restart cut the connection without a close frame */
    CHECK(r.close_code == 1006 || r.counts[WS_EVENT_CLOSED] > 1);
    pthread_mutex_unlock(&r.mu);
    ok("reconnect");

    /* replace the callback while the old one runs: ws_on_event waits for it to return, and
     * the old one is not called after ws_on_event returns */
    CHECK_RES(send_str(c, "slow"), WS_OK);
    CHECK(wait_for(&r, slow_started, WAIT_S));
    CHECK_RES(ws_on_event(c, replaced_callback, &r2), WS_OK);
    pthread_mutex_lock(&r.mu);
    CHECK(r.slow_finished == 1);
    pthread_mutex_unlock(&r.mu);
    pthread_mutex_lock(&r.mu);
    int texts_before = r.texts;
    pthread_mutex_unlock(&r.mu);
    CHECK_RES(send_str(c, "to-the-new-callback"), WS_OK);
    CHECK(wait_for(&r2, got_replaced, WAIT_S));
    pthread_mutex_lock(&r.mu);
    CHECK(r.texts == texts_before);
    pthread_mutex_unlock(&r.mu);
    CHECK_RES(ws_on_event(c, on_event, &r2), WS_OK);
    ok("on_event_replace");

    /* make sure the connection is open (a restart may cause more than one reconnect) */
    CHECK_RES(send_str(c, "hello world"), WS_OK);
    CHECK(wait_for(&r2, got_hello, WAIT_S));

    /* clean close */
    CHECK_RES(ws_close(c, 1000, "bye"), WS_OK);
    CHECK(wait_for(&r2, is_stopped, WAIT_S));
    printf("close: closed %d stopped %d code %u; opened %d\n", r2.counts[WS_EVENT_CLOSED],
           r2.counts[WS_EVENT_STOPPED], (unsigned)r2.close_code, r.counts[WS_EVENT_OPENED]);
    CHECK(r2.counts[WS_EVENT_CLOSED] == 1);
    CHECK(r2.close_code == 1000);
    CHECK(r2.initiator == WS_INITIATOR_LOCAL);
    CHECK(!r2.will_reconnect);
    CHECK(r2.stop_reason == WS_STOP_CLOSED);
    ws_client_state state;
    CHECK_RES(ws_state(c, &state), WS_OK);
    CHECK(state == WS_STATE_STOPPED);
    CHECK_RES(send_str(c, "too late"), WS_ERR_CLOSED);
    CHECK_RES(ws_reconnect_now(c), WS_ERR_CLOSED);
    CHECK_RES(ws_close(c, 1000, NULL), WS_OK); /* idempotent */
    CHECK_RES(ws_free(c), WS_OK);
    rec_destroy(&r);
    rec_destroy(&r2);
    ok("close_clean");
}

static void test_close_from_callback(const char *url) {
    recorder r;
    rec_init(&r);
    ws_config *cfg = test_config();
    ws_client *c = NULL;
    CHECK_RES(ws_connect(url, cfg, on_event, &r, &c), WS_OK);
    ws_config_free(cfg);
    set_self(&r, c);
    CHECK_RES(send_str(c, "close-me"), WS_OK);
    CHECK(wait_for(&r, is_stopped, WAIT_S));
    CHECK(r.close_in_cb == WS_OK);
    CHECK(r.close_code == 4000 && r.initiator == WS_INITIATOR_LOCAL);
    CHECK(r.stop_reason == WS_STOP_CLOSED);
    CHECK_RES(ws_free(c), WS_OK);
    rec_destroy(&r);
    ok("close_from_callback");
}

/* Pull the next event of one of the wanted kinds (skipping others), bounded. */
static ws_result pull_until(ws_client *c, ws_event_kind kind, ws_event *ev) {
    for (int i = 0; i < 1000; i++) {
        ws_result res = ws_next_event(c, WAIT_S * 1000, ev);
        if (res != WS_OK || ev->kind == kind) {
            return res;
        }
    }
    return WS_ERR_TIMEOUT;
}

static void test_pull(const char *url) {
    ws_config *cfg = test_config();
    CHECK_RES(ws_config_set_heartbeat(cfg, WS_HEARTBEAT_OFF, 0, 0), WS_OK);
    CHECK_RES(ws_config_set_event_capacity(cfg, 4), WS_OK);
    ws_client *c = NULL;
    ws_event ev;
    CHECK_RES(ws_connect(url, cfg, NULL, NULL, &c), WS_OK);
    CHECK_RES(ws_on_event(c, on_event, NULL), WS_ERR_WRONG_MODE);
    CHECK_RES(ws_next_event(c, 0, NULL), WS_ERR_NULL_ARGUMENT);
    CHECK_RES(pull_until(c, WS_EVENT_OPENED, &ev), WS_OK);
    CHECK(!ev.reconnect && ev.text != NULL && ev.text_len == 0);
    CHECK_RES(ws_event_release(c), WS_OK);
    CHECK_RES(ws_event_release(c), WS_OK); /* nothing held: no-op */

    /* More messages than the queue holds: nothing is lost, order is kept. */
    char buf[32];
    for (int i = 0; i < 20; i++) {
        snprintf(buf, sizeof buf, "pull-%d", i);
        CHECK_RES(send_str(c, buf), WS_OK);
    }
    for (int i = 0; i < 20; i++) {
        CHECK_RES(pull_until(c, WS_EVENT_TEXT, &ev), WS_OK);
        snprintf(buf, sizeof buf, "pull-%d", i);
        CHECK(ev.len == strlen(buf) && strcmp((const char *)ev.data, buf) == 0);
    }
    CHECK_RES(ws_next_event(c, 0, &ev), WS_ERR_TIMEOUT);
    CHECK_RES(ws_next_event(c, 50, &ev), WS_ERR_TIMEOUT);

    CHECK_RES(ws_close(c, 4001, "pull-bye"), WS_OK);
    CHECK_RES(pull_until(c, WS_EVENT_CLOSED, &ev), WS_OK);
    CHECK(ev.close_code == 4001 && ev.initiator == WS_INITIATOR_LOCAL);
    CHECK(ev.text_len == 8 && strcmp(ev.text, "pull-bye") == 0);
    CHECK_RES(pull_until(c, WS_EVENT_STOPPED, &ev), WS_OK);
    CHECK(ev.stop_reason == WS_STOP_CLOSED && ev.message_count == 0);
    CHECK_RES(ws_next_event(c, 1000, &ev), WS_ERR_CLOSED);
    CHECK_RES(ws_next_event(c, -1, &ev), WS_ERR_CLOSED);
    CHECK_RES(ws_free(c), WS_OK);
    ws_config_free(cfg);
    ok("pull");
}

/* Through a proxy that is not there: WS_ERROR_PROXY naming it, without its password; an
 * https:// proxy that does not speak TLS: WS_ERROR_TLS naming it; then "" (no proxy)
 * connects directly to the same server. */
static void test_proxy(const char *url) {
    ws_config *cfg = test_config();
    ws_client *c = NULL;
    ws_event ev;
    /* A loopback port that was just free (bound, then closed): connects are refused. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
    close(fd);
    char proxy[80], shown[64];
    snprintf(proxy, sizeof proxy, "http://carol:pr0xypass@127.0.0.1:%u", ntohs(sa.sin_port));
    snprintf(shown, sizeof shown, "proxy http://127.0.0.1:%u", ntohs(sa.sin_port));
    CHECK_RES(ws_config_set_proxy(cfg, proxy), WS_OK);
    CHECK_RES(ws_connect(url, cfg, NULL, NULL, &c), WS_OK);
    CHECK_RES(pull_until(c, WS_EVENT_ERROR, &ev), WS_OK);
    CHECK(ev.error_kind == WS_ERROR_PROXY);
    CHECK(strcmp(ws_error_kind_str(ev.error_kind), "proxy") == 0);
    CHECK(strstr(ev.text, shown) != NULL);
    CHECK(strstr(ev.text, "pr0xypass") == NULL && strstr(ev.text, "carol") == NULL);
    CHECK_RES(ws_event_release(c), WS_OK);
    CHECK_RES(ws_free(c), WS_OK);

    /* An https:// proxy gets TLS first: the plain test server, addressed as one, fails it
     * with WS_ERROR_TLS naming the proxy. */
    const char *hostport = url + strlen("ws://");
    int n = (int)strcspn(hostport, "/");
    snprintf(proxy, sizeof proxy, "https://%.*s", n, hostport);
    snprintf(shown, sizeof shown, "TLS to the proxy https://%.*s/", n, hostport);
    CHECK_RES(ws_config_set_proxy(cfg, proxy), WS_OK);
    CHECK_RES(ws_connect(url, cfg, NULL, NULL, &c), WS_OK);
    CHECK_RES(pull_until(c, WS_EVENT_ERROR, &ev), WS_OK);
    CHECK(ev.error_kind == WS_ERROR_TLS);
    CHECK(strstr(ev.text, shown) != NULL);
    CHECK_RES(ws_event_release(c), WS_OK);
    CHECK_RES(ws_free(c), WS_OK);

    CHECK_RES(ws_config_set_proxy(cfg, ""), WS_OK);
    CHECK_RES(ws_connect(url, cfg, NULL, NULL, &c), WS_OK);
    CHECK_RES(pull_until(c, WS_EVENT_OPENED, &ev), WS_OK);
    CHECK_RES(ws_event_release(c), WS_OK);
    CHECK_RES(ws_free(c), WS_OK);
    ws_config_free(cfg);
    ok("proxy");
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ws_free of a pull-mode client whose queue is full does not wait for the close timeout. */
static void test_pull_free_with_full_queue(const char *url) {
    ws_config *cfg = test_config();
    CHECK_RES(ws_config_set_heartbeat(cfg, WS_HEARTBEAT_OFF, 0, 0), WS_OK);
    CHECK_RES(ws_config_set_event_capacity(cfg, 2), WS_OK);
    CHECK_RES(ws_config_set_close_timeout(cfg, 10000), WS_OK);
    ws_client *c = NULL;
    ws_event ev;
    CHECK_RES(ws_connect(url, cfg, NULL, NULL, &c), WS_OK);
    ws_config_free(cfg);
    CHECK_RES(pull_until(c, WS_EVENT_OPENED, &ev), WS_OK);
    for (int i = 0; i < 50; i++) {
        CHECK_RES(send_str(c, "fill the queue"), WS_OK);
    }
    /* wait until the echoes are back and the queue is full: one more event is readable */
    CHECK_RES(pull_until(c, WS_EVENT_TEXT, &ev), WS_OK);
    ws_client_stats st;
    for (int i = 0; i < 3000; i++) {
        CHECK_RES(ws_stats(c, &st), WS_OK);
        if (st.messages_in >= 4) {
            break;
        }
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL); /* polling a counter, bounded: 3 s */
    }
    double t0 = now_s();
    CHECK_RES(ws_free(c), WS_OK);
    double took = now_s() - t0;
    printf("ws_free with a full queue took %.3f s\n", took);
    CHECK(took < 5.0);
    ok("pull_free_full_queue");
}

/* Issue 12 #3: with a full queue nobody reads, ws_close from the reading thread used to wait
 * the whole close timeout, then drop CLOSED/STOPPED: the 10 accepted messages were never
 * reported and ws_next_event returned WS_ERR_CLOSED without a STOPPED. Not reading for 300 ms
 * is the scenario (nothing to synchronise on). */
/* A loopback URL whose port nothing listens on (bound, then released). */
static void refused_url(char *out, size_t n) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    snprintf(out, n, "ws://127.0.0.1:%u/", (unsigned)ntohs(a.sin_port));
}

static void test_pull_stopped_after_close_with_full_queue(void) {
    char url[64];
    refused_url(url, sizeof url);
    ws_config *cfg = test_config();
    CHECK_RES(ws_config_set_heartbeat(cfg, WS_HEARTBEAT_OFF, 0, 0), WS_OK);
    CHECK_RES(ws_config_set_event_capacity(cfg, 4), WS_OK);
    CHECK_RES(ws_config_set_backoff(cfg, 10, 20, 2.0, 0.0), WS_OK);
    CHECK_RES(ws_config_set_close_timeout(cfg, 2000), WS_OK);
    ws_client *c = NULL;
    /* nothing listens there: every attempt is refused */
    CHECK_RES(ws_connect(url, cfg, NULL, NULL, &c), WS_OK);
    ws_config_free(cfg);
    for (int i = 0; i < 10; i++) {
        CHECK_RES(send_str(c, "queued"), WS_OK);
    }
    struct timespec pause = {0, 300 * 1000000};
    nanosleep(&pause, NULL);
    double t0 = now_s();
    CHECK_RES(ws_close(c, 1000, "bye"), WS_OK);
    double took = now_s() - t0;
    printf("ws_close with a full pull queue took %.3f s\n", took);
    CHECK(took < 2.5); /* the close timeout + 500 ms bound */
    ws_event ev;
    int events = 0, stopped = 0;
    size_t unsent = 0;
    for (int i = 0; i < 10000; i++) {
        ws_result res = ws_next_event(c, WAIT_S * 1000, &ev);
        if (res == WS_ERR_CLOSED) {
            break;
        }
        CHECK_RES(res, WS_OK);
        events++;
        if (ev.kind == WS_EVENT_STOPPED) {
            stopped++;
            unsent = ev.message_count;
            CHECK(ev.stop_reason == WS_STOP_CLOSED);
        }
    }
    CHECK(events > 4);
    CHECK(stopped == 1);
    CHECK(unsent == 10);
    CHECK_RES(ws_free(c), WS_OK);
    ok("pull_stopped_after_close_with_full_queue");
}

/* ---- ws_send_wait ---------------------------------------------------------------------- */

#define FLOOD 5000
static int flood_echoed(const recorder *r) { return r->next_seq >= FLOOD; }

typedef struct waiter {
    ws_client *c;
    ws_result result;
    double returned_at;
} waiter;

static void *wait_for_room(void *arg) {
    waiter *w = (waiter *)arg;
    w->result = ws_send_wait(w->c, (const uint8_t *)"waiting", 7, WS_MESSAGE_TEXT, 30000);
    w->returned_at = now_s();
    return NULL;
}

/* The same checks as ws_send; a flood through an 8-message outbox arrives complete and in
 * order without a single refusal; a timeout queues nothing; ws_close wakes a waiter. */
static void test_send_wait(const char *url) {
    const uint8_t bad_utf8[] = {0x68, 0xc3, 0x28};
    CHECK_RES(ws_send_wait(NULL, bad_utf8, 1, WS_MESSAGE_TEXT, 10), WS_ERR_NULL_ARGUMENT);

    recorder r;
    rec_init(&r);
    ws_config *cfg = test_config();
    CHECK_RES(ws_config_set_outbox_limits(cfg, 8, 1 << 20), WS_OK);
    CHECK_RES(ws_config_set_max_message_size(cfg, 1024), WS_OK);
    ws_client *c = NULL;
    CHECK_RES(ws_connect(url, cfg, on_event, &r, &c), WS_OK);
    ws_config_free(cfg);
    CHECK(wait_for(&r, is_open, WAIT_S));
    CHECK_RES(ws_send_wait(c, bad_utf8, sizeof bad_utf8, WS_MESSAGE_TEXT, 10),
              WS_ERR_INVALID_UTF8);
    CHECK_RES(ws_send_wait(c, bad_utf8, sizeof bad_utf8, 0, 10), WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_send_wait(c, NULL, 5, WS_MESSAGE_BINARY, 10), WS_ERR_NULL_ARGUMENT);
    static uint8_t big[1025];
    CHECK_RES(ws_send_wait(c, big, sizeof big, WS_MESSAGE_BINARY, 10), WS_ERR_MESSAGE_TOO_LARGE);
    char buf[32];
    for (int i = 0; i < FLOOD; i++) {
        int n = snprintf(buf, sizeof buf, "seq:%d", i);
        CHECK_RES(ws_send_wait(c, (const uint8_t *)buf, (size_t)n, WS_MESSAGE_TEXT, 30000), WS_OK);
    }
    CHECK(wait_for(&r, flood_echoed, WAIT_S));
    CHECK(r.seq_errors == 0);
    CHECK_RES(ws_free(c), WS_OK);
    CHECK(r.next_seq == FLOOD); /* nothing duplicated */
    rec_destroy(&r);

    /* Nothing drains while the server refuses connections (backoff 5 s). */
    cfg = test_config();
    CHECK_RES(ws_config_set_outbox_limits(cfg, 2, 1 << 20), WS_OK);
    CHECK_RES(ws_config_set_backoff(cfg, 5000, 5000, 1.0, 0.0), WS_OK);
    ws_event ev;
    CHECK_RES(ws_connect("ws://127.0.0.1:1", cfg, NULL, NULL, &c), WS_OK);
    ws_config_free(cfg);
    CHECK_RES(send_str(c, "a"), WS_OK);
    CHECK_RES(ws_send_wait(c, (const uint8_t *)"b", 1, WS_MESSAGE_TEXT, -1), WS_OK);
    double t0 = now_s();
    CHECK_RES(ws_send_wait(c, (const uint8_t *)"c", 1, WS_MESSAGE_TEXT, 300), WS_ERR_OUTBOX_FULL);
    double took = now_s() - t0;
    printf("ws_send_wait gave up after %.3f s (timeout 0.3 s)\n", took);
    CHECK(took >= 0.299 && took < 3.0);
    t0 = now_s();
    CHECK_RES(ws_send_wait(c, (const uint8_t *)"d", 1, WS_MESSAGE_BINARY, 0), WS_ERR_OUTBOX_FULL);
    CHECK(now_s() - t0 < 0.25);
    ws_client_stats st;
    CHECK_RES(ws_stats(c, &st), WS_OK);
    CHECK(st.outbox_len == 2);

    /* A thread waiting for room returns WS_ERR_CLOSED when another closes the client. (If
     * ws_close wins the race and runs before the wait begins, the call fails at its start
     * with the same code; the Rust tests prove the wake-up itself.) Either way it must not
     * wait out its 30 s. */
    waiter w = {c, WS_ERR_PANIC, 0.0};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, wait_for_room, &w) == 0);
    double closing = now_s();
    CHECK_RES(ws_close(c, 1000, ""), WS_OK);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK_RES(w.result, WS_ERR_CLOSED);
    CHECK(w.returned_at - closing < 5.0);
    CHECK_RES(pull_until(c, WS_EVENT_STOPPED, &ev), WS_OK);
    CHECK(ev.message_count == 2); /* "a" and "b": nothing else was queued */
    CHECK_RES(ws_send_wait(c, (const uint8_t *)"late", 4, WS_MESSAGE_TEXT, 1000), WS_ERR_CLOSED);
    CHECK_RES(ws_free(c), WS_OK);
    ok("send_wait");
}

/* Messages sent while the server is unreachable come back in the STOPPED event. */
static void test_unsent(void) {
    ws_config *cfg = test_config();
    CHECK_RES(ws_config_set_reconnect(cfg, true), WS_OK);
    CHECK_RES(ws_config_set_backoff(cfg, 5000, 5000, 1.0, 0.0), WS_OK);
    ws_client *c = NULL;
    ws_event ev;
    CHECK_RES(ws_connect("ws://127.0.0.1:1", cfg, NULL, NULL, &c), WS_OK);
    ws_config_free(cfg);
    CHECK_RES(send_str(c, "first"), WS_OK);
    const uint8_t two[] = {2, 2};
    CHECK_RES(ws_send(c, two, 2, WS_MESSAGE_BINARY), WS_OK);
    CHECK_RES(pull_until(c, WS_EVENT_ERROR, &ev), WS_OK);
    CHECK(ev.error_kind == WS_ERROR_CONNECT);
    CHECK_RES(pull_until(c, WS_EVENT_RECONNECTING, &ev), WS_OK);
    CHECK(ev.attempt == 1 && ev.delay_ms == 5000);
    CHECK_RES(ws_close(c, 1000, ""), WS_OK);
    CHECK_RES(pull_until(c, WS_EVENT_STOPPED, &ev), WS_OK);
    CHECK(ev.message_count == 2);
    CHECK(ev.messages[0].kind == WS_MESSAGE_TEXT && ev.messages[0].len == 5);
    CHECK(strcmp((const char *)ev.messages[0].data, "first") == 0);
    CHECK(ev.messages[1].kind == WS_MESSAGE_BINARY && ev.messages[1].len == 2);
    CHECK(ev.messages[1].data[0] == 2 && ev.messages[1].data[2] == 0);
    CHECK_RES(ws_free(c), WS_OK); /* also releases the held event */
    ok("unsent");
}

typedef struct log_counter {
    pthread_mutex_t mu;
    int records;
    int bad;
} log_counter;

static void on_log(void *userdata, ws_log_level level, const char *target, const char *message) {
    log_counter *lc = (log_counter *)userdata;
    pthread_mutex_lock(&lc->mu);
    lc->records++;
    if (level < WS_LOG_ERROR || level > WS_LOG_DEBUG || target == NULL || message == NULL ||
        target[0] == '\0' || message[0] == '\0') {
        lc->bad++;
    }
    pthread_mutex_unlock(&lc->mu);
    /* Not allowed from inside the logger: refused, no deadlock. */
    if (ws_set_logger(on_log, userdata, WS_LOG_DEBUG) != WS_ERR_IN_CALLBACK) {
        pthread_mutex_lock(&lc->mu);
        lc->bad++;
        pthread_mutex_unlock(&lc->mu);
    }
}

static void test_logger(const char *url) {
    log_counter lc;
    memset(&lc, 0, sizeof lc);
    pthread_mutex_init(&lc.mu, NULL);
    CHECK_RES(ws_set_logger(on_log, &lc, 9), WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_set_logger(on_log, &lc, WS_LOG_DEBUG), WS_OK);
    CHECK_RES(ws_set_logger(on_log, &lc, WS_LOG_DEBUG), WS_OK); /* re-registration works */
    ws_config *cfg = test_config();
    ws_client *c = NULL;
    ws_event ev;
    CHECK_RES(ws_connect(url, cfg, NULL, NULL, &c), WS_OK);
    CHECK_RES(pull_until(c, WS_EVENT_OPENED, &ev), WS_OK);
    CHECK_RES(ws_close(c, 1000, "log"), WS_OK);
    CHECK_RES(ws_free(c), WS_OK);
    ws_config_free(cfg);
    CHECK_RES(ws_clear_logger(), WS_OK);
    pthread_mutex_lock(&lc.mu);
    int seen = lc.records;
    CHECK(seen > 0);
    printf("logger: %d records\n", seen);
    CHECK(lc.bad == 0);
    pthread_mutex_unlock(&lc.mu);
    /* Nothing arrives after ws_clear_logger returned. */
    CHECK_RES(ws_connect("ws://127.0.0.1:1", NULL, NULL, NULL, &c), WS_OK);
    CHECK_RES(ws_free(c), WS_OK);
    pthread_mutex_lock(&lc.mu);
    CHECK(lc.records == seen);
    pthread_mutex_unlock(&lc.mu);
    pthread_mutex_destroy(&lc.mu);
    ok("logger");
}

/* ---- hooks: before_connect, reconnect_on_close, custom heartbeat ------------------------ */

/* The host's token store and what its hooks saw; shared by the I/O thread and main. */
typedef struct auth_state {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char token[32];       /* the token the next attempt sends */
    char fresh_token[32]; /* what a refresh (after a 401) gets */
    int hook_calls;
    uint32_t last_attempt;
    int fail_first;       /* return an error from the hook for attempt 0 */
    int opened;
    int reconnect_opened;
    int http_errors;      /* WS_ERROR_HTTP_STATUS: the server refused the token */
    int callback_errors;  /* WS_ERROR_CALLBACK: the hook failed the attempt */
    int checks_failed;    /* request-handle checks made inside the hook */
    char sent_url[256];
    int stopped;
    ws_stop_reason stop_reason;
    /* reconnect_on_close */
    uint16_t codes_asked[8];
    int n_codes;
    /* custom heartbeat */
    int matcher_calls;
    int matched;
    int texts;
    int binaries;
    int heartbeat_texts_seen; /* heartbeat replies that leaked out as messages */
} auth_state;

static void auth_init(auth_state *a) {
    memset(a, 0, sizeof *a);
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
}

static void auth_destroy(auth_state *a) {
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
}

static int auth_wait(auth_state *a, int (*pred)(const auth_state *), int seconds) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += seconds;
    pthread_mutex_lock(&a->mu);
    int ok_ = pred(a);
    while (!ok_) {
        int e = pthread_cond_timedwait(&a->cv, &a->mu, &deadline);
        ok_ = pred(a);
        if (e == ETIMEDOUT) {
            break;
        }
    }
    pthread_mutex_unlock(&a->mu);
    return ok_;
}

static int a_open(const auth_state *a) { return a->opened >= 1; }
static int a_reopened(const auth_state *a) { return a->reconnect_opened >= 1; }
static int a_stopped(const auth_state *a) { return a->stopped; }
static int a_heartbeats(const auth_state *a) { return a->matched >= 3; }

static void auth_on_event(void *userdata, const ws_event *ev) {
    auth_state *a = (auth_state *)userdata;
    pthread_mutex_lock(&a->mu);
    switch (ev->kind) {
    case WS_EVENT_OPENED:
        a->opened++;
        if (ev->reconnect) {
            a->reconnect_opened++;
        }
        break;
    case WS_EVENT_ERROR:
        if (ev->error_kind == WS_ERROR_HTTP_STATUS) {
            /* 401: the token expired. Refresh it; the next attempt's hook sends it. */
            a->http_errors++;
            if (a->fresh_token[0] != '\0') {
                memcpy(a->token, a->fresh_token, sizeof a->token);
            }
        } else if (ev->error_kind == WS_ERROR_CALLBACK) {
            a->callback_errors++;
        }
        break;
    case WS_EVENT_TEXT:
        a->texts++;
        if (ev->len == 3 && memcmp(ev->data, "hb?", 3) == 0) {
            a->heartbeat_texts_seen++;
        }
        break;
    case WS_EVENT_BINARY:
        a->binaries++;
        break;
    case WS_EVENT_STOPPED:
        a->stopped = 1;
        a->stop_reason = ev->stop_reason;
        break;
    default:
        break;
    }
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

/* The token-refresh hook: reads the request, puts the current token in, and checks the
 * request-handle API from inside (failures counted, checked by the main thread). */
static int auth_before_connect(void *userdata, uint32_t attempt, ws_request *req) {
    auth_state *a = (auth_state *)userdata;
    pthread_mutex_lock(&a->mu);
    a->hook_calls++;
    a->last_attempt = attempt;
    int fail = a->fail_first && attempt == 0;
    char token[32];
    memcpy(token, a->token, sizeof token);
    pthread_mutex_unlock(&a->mu);
    int bad = 0;

    const char *url = ws_request_url(req);
    bad += url == NULL || strncmp(url, "ws://127.0.0.1:", 15) != 0;
    /* The config's headers, names and values (the host's own values). */
    size_t n = ws_request_header_count(req);
    bad += n != 2;
    bad += ws_request_header_name(req, 0) == NULL || strcmp(ws_request_header_name(req, 0), "X-Static") != 0;
    bad += ws_request_header_value(req, 0) == NULL || strcmp(ws_request_header_value(req, 0), "s") != 0;
    bad += ws_request_header_name(req, n) != NULL;
    bad += ws_request_header_value(req, n) != NULL;
    /* Refused changes leave the request as it was. */
    bad += ws_request_set_url(req, "http://127.0.0.1/") != WS_ERR_INVALID_URL;
    bad += ws_request_set_url(req, NULL) != WS_ERR_NULL_ARGUMENT;
    bad += ws_request_set_header(req, "bad name", "v") != WS_ERR_INVALID_HEADER;
    bad += ws_request_set_header(req, "X-Ok", "bad\nvalue") != WS_ERR_INVALID_HEADER;
    bad += strcmp(ws_request_url(req), url) != 0; /* url still valid and unchanged */
    /* The token goes in a header and in the query string. */
    char bearer[64];
    snprintf(bearer, sizeof bearer, "Bearer %s", token);
    bad += ws_request_set_header(req, "authorization", "placeholder") != WS_OK;
    bad += ws_request_set_header(req, "Authorization", bearer) != WS_OK; /* replaces */
    bad += ws_request_remove_header(req, "x-remove-me") != WS_OK;
    bad += ws_request_remove_header(req, "not-there") != WS_OK;
    bad += ws_request_add_header(req, "X-Trace", "1") != WS_OK;
    bad += ws_request_add_header(req, "X-Trace", "2") != WS_OK;
    bad += ws_request_header_count(req) != 4; /* X-Static, Authorization, X-Trace x2 */
    bad += strcmp(ws_request_header_value(req, 1), bearer) != 0;
    char with_query[256];
    snprintf(with_query, sizeof with_query, "%s/?token=%s", url, token);
    bad += ws_request_set_url(req, with_query) != WS_OK;
    bad += strcmp(ws_request_url(req), with_query) != 0;

    pthread_mutex_lock(&a->mu);
    a->checks_failed += bad;
    snprintf(a->sent_url, sizeof a->sent_url, "%s", ws_request_url(req));
    pthread_mutex_unlock(&a->mu);
    return fail ? WS_ERR_CALLBACK : WS_OK;
}

static void test_hook_misuse(void) {
    ws_config *cfg = ws_config_new();
    CHECK_RES(ws_config_set_before_connect(NULL, auth_before_connect, NULL), WS_ERR_NULL_ARGUMENT);
    CHECK_RES(ws_config_set_before_connect(cfg, NULL, NULL), WS_OK); /* removes it */
    CHECK_RES(ws_config_set_reconnect_on_close(NULL, NULL, NULL), WS_ERR_NULL_ARGUMENT);
    CHECK_RES(ws_config_set_reconnect_on_close(cfg, NULL, NULL), WS_OK);
    const uint8_t p[] = {'h', 'b'};
    CHECK_RES(ws_config_set_custom_heartbeat(NULL, 200, 100, p, 2, WS_MESSAGE_TEXT, NULL, NULL),
              WS_ERR_NULL_ARGUMENT);
    CHECK_RES(ws_config_set_custom_heartbeat(cfg, 200, 100, NULL, 2, WS_MESSAGE_TEXT, NULL, NULL),
              WS_ERR_NULL_ARGUMENT);
    CHECK_RES(ws_config_set_custom_heartbeat(cfg, 200, 100, p, 2, 7, NULL, NULL),
              WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_config_set_custom_heartbeat(cfg, 100, 100, p, 2, WS_MESSAGE_TEXT, NULL, NULL),
              WS_ERR_INVALID_ARGUMENT);
    CHECK_RES(ws_config_set_custom_heartbeat(cfg, 0, 100, p, 2, WS_MESSAGE_TEXT, NULL, NULL),
              WS_ERR_INVALID_ARGUMENT);
    const uint8_t not_utf8[] = {0xff, 0xfe};
    CHECK_RES(ws_config_set_custom_heartbeat(cfg, 200, 100, not_utf8, 2, WS_MESSAGE_TEXT, NULL, NULL),
              WS_ERR_INVALID_UTF8);
    CHECK_RES(ws_config_set_custom_heartbeat(cfg, 200, 100, not_utf8, 2, WS_MESSAGE_BINARY, NULL, NULL),
              WS_OK);
    CHECK_RES(ws_config_set_custom_heartbeat(cfg, 200, 100, NULL, 0, WS_MESSAGE_BINARY, NULL, NULL),
              WS_OK);
    /* the request API with NULL */
    CHECK(ws_request_url(NULL) == NULL);
    CHECK(ws_request_header_count(NULL) == 0);
    CHECK(ws_request_header_name(NULL, 0) == NULL);
    CHECK(ws_request_header_value(NULL, 0) == NULL);
    CHECK_RES(ws_request_set_url(NULL, "ws://x"), WS_ERR_NULL_ARGUMENT);
    CHECK_RES(ws_request_set_header(NULL, "a", "b"), WS_ERR_NULL_ARGUMENT);
    CHECK_RES(ws_request_add_header(NULL, "a", "b"), WS_ERR_NULL_ARGUMENT);
    CHECK_RES(ws_request_remove_header(NULL, "a"), WS_ERR_NULL_ARGUMENT);
    ws_config_free(cfg);
    ok("hook_misuse");
}

/* The test library is built with rustls and the bundled roots only (the default features):
 * the platform's roots or TLS library are refused clearly by ws_connect. */
static void test_tls_feature_options(const char *url) {
    char wss[256];
    snprintf(wss, sizeof wss, "wss://%s", url + strlen("ws://"));
    for (int which = 0; which < 2; which++) {
        ws_config *cfg = ws_config_new();
        if (which == 0) {
            CHECK_RES(ws_config_tls_set_native_roots(cfg, true), WS_OK);
        } else {
            CHECK_RES(ws_config_tls_use_native_tls(cfg, true), WS_OK);
        }
        ws_client *c = (ws_client *)&c;
        CHECK_RES(ws_connect(wss, cfg, NULL, NULL, &c), WS_ERR_TLS);
        CHECK(c == NULL && strstr(ws_last_error(), "native") != NULL);
        ws_config_free(cfg);
    }
    ok("tls_feature_options");
}

/* A server that accepts only the newest token, restarted with a new one mid-test: the
 * event callback refreshes the token after the 401, the hook sends it, the client is back. */
static void test_before_connect_token_refresh(const char *auth_url) {
    auth_state a;
    auth_init(&a);
    snprintf(a.token, sizeof a.token, "t1");
    ws_config *cfg = test_config();
    CHECK_RES(ws_config_add_header(cfg, "X-Static", "s"), WS_OK);
    CHECK_RES(ws_config_add_header(cfg, "X-Remove-Me", "gone"), WS_OK);
    CHECK_RES(ws_config_set_before_connect(cfg, auth_before_connect, &a), WS_OK);
    ws_client *c = NULL;
    CHECK_RES(ws_connect(auth_url, cfg, auth_on_event, &a, &c), WS_OK);
    ws_config_free(cfg); /* the hook stays: the client copied it */
    CHECK(auth_wait(&a, a_open, WAIT_S));
    pthread_mutex_lock(&a.mu);
    CHECK(a.hook_calls == 1 && a.last_attempt == 0);
    CHECK(a.checks_failed == 0);
    CHECK(strstr(a.sent_url, "?token=t1") != NULL);
    CHECK(a.http_errors == 0);
    snprintf(a.fresh_token, sizeof a.fresh_token, "t2");
    pthread_mutex_unlock(&a.mu);
    ok("before_connect");

    printf("ROTATE t2\n");
    fflush(stdout);
    CHECK(auth_wait(&a, a_reopened, WAIT_S));
    pthread_mutex_lock(&a.mu);
    printf("token refresh: %d hook calls, %d refused (401), last attempt %u\n", a.hook_calls,
           a.http_errors, (unsigned)a.last_attempt);
    CHECK(a.http_errors >= 1);    /* the stale token was refused... */
    CHECK(a.last_attempt >= 1);   /* ...a reconnect attempt sent the fresh one */
    CHECK(strcmp(a.token, "t2") == 0 && strstr(a.sent_url, "?token=t2") != NULL);
    CHECK(a.checks_failed == 0);
    pthread_mutex_unlock(&a.mu);
    CHECK_RES(ws_free(c), WS_OK);
    pthread_mutex_lock(&a.mu);
    int calls = a.hook_calls;
    pthread_mutex_unlock(&a.mu);
    CHECK(calls >= 2);
    auth_destroy(&a);
    ok("before_connect_token_refresh");
}

/* A hook that fails attempt 0: an error event of kind callback, then the retry opens. */
static void test_before_connect_error(const char *url) {
    auth_state a;
    auth_init(&a);
    snprintf(a.token, sizeof a.token, "any");
    a.fail_first = 1;
    ws_config *cfg = test_config();
    CHECK_RES(ws_config_add_header(cfg, "X-Static", "s"), WS_OK);
    CHECK_RES(ws_config_add_header(cfg, "X-Remove-Me", "gone"), WS_OK);
    CHECK_RES(ws_config_set_before_connect(cfg, auth_before_connect, &a), WS_OK);
    ws_client *c = NULL;
    CHECK_RES(ws_connect(url, cfg, auth_on_event, &a, &c), WS_OK);
    ws_config_free(cfg);
    CHECK(auth_wait(&a, a_open, WAIT_S));
    pthread_mutex_lock(&a.mu);
    CHECK(a.callback_errors == 1);
    CHECK(a.hook_calls == 2 && a.last_attempt >= 1);
    pthread_mutex_unlock(&a.mu);
    CHECK_RES(ws_free(c), WS_OK);
    auth_destroy(&a);
    ok("before_connect_error");
}

static bool close_policy(void *userdata, uint16_t code) {
    auth_state *a = (auth_state *)userdata;
    pthread_mutex_lock(&a->mu);
    if (a->n_codes < 8) {
        a->codes_asked[a->n_codes++] = code;
    }
    pthread_mutex_unlock(&a->mu);
    return code != 4001; /* 4001 would be retried by default: declining it proves the hook */
}

/* The predicate accepts 4002 (reconnect) and declines 4001 (the client stops). */
static void test_reconnect_on_close(const char *url) {
    auth_state a;
    auth_init(&a);
    ws_config *cfg = test_config();
    CHECK_RES(ws_config_set_reconnect_on_close(cfg, close_policy, &a), WS_OK);
    ws_client *c = NULL;
    CHECK_RES(ws_connect(url, cfg, auth_on_event, &a, &c), WS_OK);
    ws_config_free(cfg);
    CHECK(auth_wait(&a, a_open, WAIT_S));
    printf("CLOSE_ALL 4002\n");
    fflush(stdout);
    CHECK(auth_wait(&a, a_reopened, WAIT_S));
    printf("CLOSE_ALL 4001\n");
    fflush(stdout);
    CHECK(auth_wait(&a, a_stopped, WAIT_S));
    pthread_mutex_lock(&a.mu);
    CHECK(a.stop_reason == WS_STOP_POLICY_DECLINED);
    CHECK(a.n_codes == 2 && a.codes_asked[0] == 4002 && a.codes_asked[1] == 4001);
    pthread_mutex_unlock(&a.mu);
    CHECK_RES(ws_free(c), WS_OK);
    auth_destroy(&a);
    ok("reconnect_on_close");
}

static bool hb_matcher(void *userdata, const uint8_t *data, size_t len, uint32_t kind) {
    auth_state *a = (auth_state *)userdata;
    bool is_reply = kind == WS_MESSAGE_TEXT && len == 3 && memcmp(data, "hb?", 3) == 0 &&
                    data[len] == '\0';
    pthread_mutex_lock(&a->mu);
    a->matcher_calls++;
    a->matched += is_reply;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    return is_reply;
}

static int a_got_text(const auth_state *a) { return a->texts >= 1; }

/* A custom text heartbeat the echo server answers, recognised by the matcher (replies are
 * not messages; other messages are); then the NULL matcher (equal payload) with binary. */
static void test_custom_heartbeat(const char *url) {
    auth_state a;
    auth_init(&a);
    ws_config *cfg = test_config();
    const char *hb = "hb?";
    CHECK_RES(ws_config_set_custom_heartbeat(cfg, 150, 100, (const uint8_t *)hb, 3,
                                             WS_MESSAGE_TEXT, hb_matcher, &a),
              WS_OK);
    ws_client *c = NULL;
    CHECK_RES(ws_connect(url, cfg, auth_on_event, &a, &c), WS_OK);
    ws_config_free(cfg);
    CHECK(auth_wait(&a, a_heartbeats, WAIT_S));
    CHECK_RES(send_str(c, "data"), WS_OK);
    CHECK(auth_wait(&a, a_got_text, WAIT_S));
    ws_client_stats st;
    CHECK_RES(ws_stats(c, &st), WS_OK);
    pthread_mutex_lock(&a.mu);
    CHECK(a.heartbeat_texts_seen == 0 && a.texts == 1);
    CHECK(a.matcher_calls > a.matched); /* "data" was offered to the matcher and declined */
    pthread_mutex_unlock(&a.mu);
    CHECK(st.last_rtt_us >= 0);
    CHECK_RES(ws_free(c), WS_OK);
    auth_destroy(&a);

    auth_init(&a);
    cfg = test_config();
    const uint8_t bin[] = {0xbe, 0xa7};
    CHECK_RES(ws_config_set_custom_heartbeat(cfg, 150, 100, bin, 2, WS_MESSAGE_BINARY, NULL, NULL),
              WS_OK);
    CHECK_RES(ws_connect(url, cfg, auth_on_event, &a, &c), WS_OK);
    ws_config_free(cfg);
    CHECK(auth_wait(&a, a_open, WAIT_S));
    for (int i = 0; i < 200; i++) { /* bounded: 200 x 25 ms */
        CHECK_RES(ws_stats(c, &st), WS_OK);
        if (st.last_rtt_us >= 0) {
            break;
        }
        struct timespec pause = {0, 25 * 1000000L};
        nanosleep(&pause, NULL);
    }
    CHECK(st.last_rtt_us >= 0); /* the echoed payload was taken as the reply */
    pthread_mutex_lock(&a.mu);
    CHECK(a.binaries == 0);     /* ...and not reported as a message */
    pthread_mutex_unlock(&a.mu);
    CHECK_RES(ws_free(c), WS_OK);
    auth_destroy(&a);
    ok("custom_heartbeat");
}

/* Pull mode reports heartbeat answers as WS_EVENT_PONG by default; with
 * ws_config_set_pong_events(cfg, false) the heartbeat runs (the RTT is in the stats) and
 * ws_next_event never returns one. */
static int pongs_pulled(const char *url, int pong_events, ws_client_stats *st) {
    ws_config *cfg = test_config();
    CHECK_RES(ws_config_set_heartbeat(cfg, WS_HEARTBEAT_PING, 150, 100), WS_OK);
    if (pong_events >= 0) {
        CHECK_RES(ws_config_set_pong_events(cfg, pong_events != 0), WS_OK);
    }
    ws_client *c = NULL;
    CHECK_RES(ws_connect(url, cfg, NULL, NULL, &c), WS_OK);
    ws_config_free(cfg);
    int pongs = 0;
    ws_event ev;
    for (int i = 0; i < 12; i++) { /* 12 x 100 ms: about 8 heartbeats of 150 ms */
        ws_result res = ws_next_event(c, 100, &ev);
        CHECK(res == WS_OK || res == WS_ERR_TIMEOUT);
        if (res == WS_OK && ev.kind == WS_EVENT_PONG) {
            pongs++;
        }
    }
    CHECK_RES(ws_stats(c, st), WS_OK);
    CHECK_RES(ws_free(c), WS_OK);
    return pongs;
}

static void test_pong_events(const char *url) {
    CHECK_RES(ws_config_set_pong_events(NULL, false), WS_ERR_NULL_ARGUMENT);
    ws_client_stats st;
    CHECK(pongs_pulled(url, -1, &st) >= 2); /* the default */
    CHECK(pongs_pulled(url, 1, &st) >= 2);
    CHECK(pongs_pulled(url, 0, &st) == 0);
    CHECK(st.last_rtt_us >= 0 && st.missed_heartbeats == 0);
    ok("pong_events");
}

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (f == NULL) {
        return -1;
    }
    if (fscanf(f, "%ld %ld", &size, &resident) != 2) {
        resident = -1;
    }
    fclose(f);
    return resident * 4;
}

static void test_cycles(const char *url, int cycles, int check_rss) {
    long rss_start = -1;
    for (int i = 0; i < cycles; i++) {
        if (i == cycles / 4) {
            rss_start = rss_kib();
        }
        ws_client *c = NULL;
        ws_config *cfg = test_config();
        recorder r;
        rec_init(&r);
        if (i % 2 == 0) {
            CHECK_RES(ws_connect(url, cfg, on_event, &r, &c), WS_OK);
            if (i % 10 == 0) {
                CHECK(wait_for(&r, is_open, WAIT_S));
                CHECK_RES(send_str(c, "cycle"), WS_OK);
            }
        } else {
            CHECK_RES(ws_connect(url, cfg, NULL, NULL, &c), WS_OK);
            if (i % 10 == 1) {
                ws_event ev;
                CHECK_RES(pull_until(c, WS_EVENT_OPENED, &ev), WS_OK);
            }
        }
        ws_config_free(cfg);
        CHECK_RES(ws_free(c), WS_OK);
        if (i % 2 == 0) {
            CHECK(r.counts[WS_EVENT_STOPPED] == 1);
        }
        rec_destroy(&r);
    }
    long rss_end = rss_kib();
    printf("cycles: %d, rss %ld KiB -> %ld KiB\n", cycles, rss_start, rss_end);
    if (check_rss && rss_start > 0) {
        CHECK(rss_end - rss_start < 16 * 1024);
    }
    ok("cycles");
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s <ws-url> <cycles> <check-rss 0|1> <auth-ws-url>\n", argv[0]);
        return 2;
    }
    const char *url = argv[1];
    int cycles = atoi(argv[2]);
    int check_rss = atoi(argv[3]);
    test_misuse();
    test_client_misuse(url);
    test_push_echo_reconnect_close(url);
    test_close_from_callback(url);
    test_pull(url);
    test_proxy(url);
    test_pull_free_with_full_queue(url);
    test_pull_stopped_after_close_with_full_queue();
    test_send_wait(url);
    test_unsent();
    test_logger(url);
    test_hook_misuse();
    test_tls_feature_options(url);
    test_before_connect_token_refresh(argv[4]);
    test_before_connect_error(url);
    test_reconnect_on_close(url);
    test_custom_heartbeat(url);
    test_pong_events(url);
    test_cycles(url, cycles, check_rss);
    printf("all ok\n");
    return 0;
}
