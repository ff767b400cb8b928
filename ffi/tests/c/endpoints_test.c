/*
 * Several endpoints through the C API (run by ffi/tests/ffi_c.rs): ws_config_add_endpoint,
 * ws_event.endpoint, ws_request_endpoint, round-robin after failures, one backoff schedule.
 *
 * Usage: endpoints_test <dead1> <dead2> <dead3> <live1> <live2>
 *
 * dead*: URLs where nothing listens; live*: echo servers. The line "STOP_FIRST" asks the
 * harness to stop live1 (cutting its connections). Pull mode, every wait bounded.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsbeat.h"

#include "check.h"

/* Events of one client, as far as the tests need them. */
typedef struct {
    uint32_t connecting_endpoints[16];
    size_t connecting;
    uint64_t delays[16];
    size_t reconnecting;
} seen_t;

/* Pull events until one of `kind` arrives (fails after 5 s without it). */
static ws_event wait_kind(ws_client *c, uint32_t kind, seen_t *seen) {
    for (int i = 0; i < 1000; i++) {
        ws_event ev;
        ws_result r = ws_next_event(c, 5000, &ev);
        CHECK(r == WS_OK);
        if (ev.kind == WS_EVENT_CONNECTING && seen->connecting < 16) {
            seen->connecting_endpoints[seen->connecting++] = ev.endpoint;
        }
        if (ev.kind == WS_EVENT_RECONNECTING && seen->reconnecting < 16) {
            seen->delays[seen->reconnecting++] = ev.delay_ms;
        }
        if (ev.kind != WS_EVENT_CONNECTING && ev.kind != WS_EVENT_OPENED) {
            CHECK(ev.endpoint == 0); /* only those two kinds carry an endpoint */
        }
        if ((uint32_t)ev.kind == kind) {
            return ev;
        }
        CHECK(ev.kind != WS_EVENT_STOPPED);
    }
    CHECK(!"too many events");
    return (ws_event){0};
}

static ws_config *fast_config(void) {
    ws_config *cfg = ws_config_new();
    CHECK_OK(ws_config_set_heartbeat(cfg, WS_HEARTBEAT_PING, 100, 60));
    CHECK_OK(ws_config_set_backoff(cfg, 50, 400, 2.0, 0.0));
    return cfg;
}

static void arguments(void) {
    ws_config *cfg = ws_config_new();
    CHECK(ws_config_add_endpoint(NULL, "ws://127.0.0.1:1") == WS_ERR_NULL_ARGUMENT);
    CHECK(ws_config_add_endpoint(cfg, NULL) == WS_ERR_NULL_ARGUMENT);
    CHECK(ws_config_add_endpoint(cfg, "http://127.0.0.1:1") == WS_ERR_INVALID_URL);
    CHECK(strstr(ws_last_error(), "scheme") != NULL);
    CHECK(ws_config_add_endpoint(cfg, "ws://") == WS_ERR_INVALID_URL);
    CHECK(ws_config_add_endpoint(cfg, "\xc3\x28") == WS_ERR_INVALID_UTF8);
    CHECK(ws_request_endpoint(NULL) == UINT32_MAX);
    ws_config_free(cfg);
    ok("arguments");
}

static void first_down(const char *dead, const char *live) {
    ws_config *cfg = fast_config();
    CHECK_OK(ws_config_add_endpoint(cfg, live));
    ws_client *c = NULL;
    CHECK_OK(ws_connect(dead, cfg, NULL, NULL, &c));
    ws_config_free(cfg);
    seen_t seen = {0};
    ws_event ev = wait_kind(c, WS_EVENT_OPENED, &seen);
    CHECK(ev.endpoint == 1);
    CHECK(ev.attempt == 1);
    CHECK(!ev.reconnect);
    CHECK(seen.connecting == 2);
    CHECK(seen.connecting_endpoints[0] == 0 && seen.connecting_endpoints[1] == 1);
    CHECK_OK(ws_send(c, (const uint8_t *)"hi", 2, WS_MESSAGE_TEXT));
    ev = wait_kind(c, WS_EVENT_TEXT, &seen);
    CHECK(ev.len == 2 && memcmp(ev.data, "hi", 2) == 0);
    CHECK_OK(ws_free(c));
    ok("first_down_opens_on_second");
}

static void first_dies(const char *live1, const char *live2) {
    ws_config *cfg = fast_config();
    CHECK_OK(ws_config_add_endpoint(cfg, live2));
    ws_client *c = NULL;
    CHECK_OK(ws_connect(live1, cfg, NULL, NULL, &c));
    ws_config_free(cfg);
    seen_t seen = {0};
    ws_event ev = wait_kind(c, WS_EVENT_OPENED, &seen);
    CHECK(ev.endpoint == 0);
    printf("STOP_FIRST\n");
    fflush(stdout);
    ev = wait_kind(c, WS_EVENT_CLOSED, &seen);
    CHECK(ev.will_reconnect);
    ev = wait_kind(c, WS_EVENT_OPENED, &seen);
    CHECK(ev.endpoint == 1);
    CHECK(ev.reconnect);
    CHECK(seen.connecting == 2 && seen.connecting_endpoints[1] == 1);
    CHECK_OK(ws_free(c));
    ok("first_dies_reconnects_to_second");
}

static void backoff_per_client(const char *d1, const char *d2, const char *d3) {
    ws_config *cfg = ws_config_new();
    CHECK_OK(ws_config_set_heartbeat(cfg, WS_HEARTBEAT_OFF, 0, 0));
    CHECK_OK(ws_config_set_backoff(cfg, 20, 10000, 2.0, 0.0));
    CHECK_OK(ws_config_set_max_attempts(cfg, 5));
    CHECK_OK(ws_config_add_endpoint(cfg, d2));
    CHECK_OK(ws_config_add_endpoint(cfg, d3));
    ws_client *c = NULL;
    CHECK_OK(ws_connect(d1, cfg, NULL, NULL, &c));
    ws_config_free(cfg);
    seen_t seen = {0};
    for (;;) {
        ws_event ev;
        CHECK(ws_next_event(c, 5000, &ev) == WS_OK);
        if (ev.kind == WS_EVENT_CONNECTING) {
            seen.connecting_endpoints[seen.connecting++] = ev.endpoint;
        } else if (ev.kind == WS_EVENT_RECONNECTING) {
            seen.delays[seen.reconnecting++] = ev.delay_ms;
        } else if (ev.kind == WS_EVENT_STOPPED) {
            CHECK(ev.stop_reason == WS_STOP_MAX_ATTEMPTS);
            break;
        }
        CHECK(seen.connecting < 16 && seen.reconnecting < 16);
    }
    const uint64_t want_delays[] = {20, 40, 80, 160, 320};
    const uint32_t want_endpoints[] = {0, 1, 2, 0, 1, 2};
    CHECK(seen.reconnecting == 5 && seen.connecting == 6);
    for (size_t i = 0; i < 5; i++) {
        CHECK(seen.delays[i] == want_delays[i]);
    }
    for (size_t i = 0; i < 6; i++) {
        CHECK(seen.connecting_endpoints[i] == want_endpoints[i]);
    }
    CHECK_OK(ws_free(c));
    ok("backoff_per_client");
}

typedef struct {
    const char *live;
    uint32_t endpoints[8];
    char urls[8][128];
    size_t n;
} hook_state;

static int hook(void *userdata, uint32_t attempt, ws_request *req) {
    hook_state *h = userdata;
    if (h->n < 8) {
        h->endpoints[h->n] = ws_request_endpoint(req);
        snprintf(h->urls[h->n], sizeof h->urls[h->n], "%s", ws_request_url(req));
        h->n++;
    }
    if (attempt == 3) {
        return ws_request_set_url(req, h->live) == WS_OK ? 0 : -1;
    }
    return 0;
}

/* ws_request_url has a trailing "/" the arguments do not. */
static int same_url(const char *got, const char *want) {
    size_t n = strlen(want);
    return strncmp(got, want, n) == 0 && (got[n] == 0 || strcmp(got + n, "/") == 0);
}

static void before_connect(const char *d1, const char *d2, const char *live) {
    hook_state h = {0};
    h.live = live;
    ws_config *cfg = fast_config();
    CHECK_OK(ws_config_add_endpoint(cfg, d2));
    CHECK_OK(ws_config_set_before_connect(cfg, hook, &h));
    ws_client *c = NULL;
    CHECK_OK(ws_connect(d1, cfg, NULL, NULL, &c));
    ws_config_free(cfg);
    seen_t seen = {0};
    ws_event ev = wait_kind(c, WS_EVENT_OPENED, &seen);
    CHECK(ev.endpoint == 1 && ev.attempt == 3);
    CHECK_OK(ws_free(c));
    CHECK(h.n == 4);
    const uint32_t want[] = {0, 1, 0, 1};
    const char *urls[] = {d1, d2, d1, d2};
    for (size_t i = 0; i < 4; i++) {
        CHECK(h.endpoints[i] == want[i]);
        CHECK(same_url(h.urls[i], urls[i]));
    }
    ok("before_connect_sees_each_endpoint");
}

int main(int argc, char **argv) {
    CHECK(argc == 6);
    arguments();
    first_down(argv[1], argv[5]);
    backoff_per_client(argv[1], argv[2], argv[3]);
    before_connect(argv[1], argv[2], argv[5]);
    first_dies(argv[4], argv[5]);
    printf("all ok\n");
    return 0;
}
