/*
 * permessage-deflate through the C API (run by ffi/tests/ffi_c.rs): ws_config_set_compression,
 * ws_event.compression on WS_EVENT_OPENED, ws_client_stats.compression.
 *
 * Usage: compression_test <deflate_url> <plain_url>
 *
 * deflate_url: an echo server that negotiates permessage-deflate (the testkit's
 * DeflateEchoServer); plain_url: one that does not (the EchoServer). Pull mode, every wait
 * bounded.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsbeat.h"

#include "check.h"

/* Pull events until one of `kind` arrives (fails after 5 s without it or on an error). */
static ws_event wait_kind(ws_client *c, uint32_t kind) {
    for (int i = 0; i < 1000; i++) {
        ws_event ev;
        CHECK(ws_next_event(c, 5000, &ev) == WS_OK);
        if ((uint32_t)ev.kind == kind) {
            return ev;
        }
        CHECK(ev.kind != WS_EVENT_ERROR && ev.kind != WS_EVENT_STOPPED);
    }
    CHECK(!"too many events");
    return (ws_event){0};
}

/* Connect to `url` offering compression (or not), check what Opened and ws_stats say,
 * echo a text (above min_size) and a binary message, close. */
static void run(const char *url, bool offer, bool expect) {
    ws_config *cfg = ws_config_new();
    CHECK_OK(ws_config_set_heartbeat(cfg, WS_HEARTBEAT_PING, 500, 400));
    CHECK_OK(ws_config_set_reconnect(cfg, false));
    CHECK_OK(ws_config_set_compression(cfg, offer, 15, false, 16));
    ws_client *c = NULL;
    CHECK_OK(ws_connect(url, cfg, NULL, NULL, &c));
    ws_config_free(cfg);

    ws_event ev = wait_kind(c, WS_EVENT_OPENED);
    CHECK(ev.compression == expect);
    ws_client_stats st;
    CHECK_OK(ws_stats(c, &st));
    CHECK(st.compression == expect);
    CHECK(st.connects == 1);

    const char *text = "{\"ModeCode\":\"message\",\"msg\":\"hello world\"} hello world hello world";
    CHECK_OK(ws_send(c, (const uint8_t *)text, strlen(text), WS_MESSAGE_TEXT));
    ev = wait_kind(c, WS_EVENT_TEXT);
    CHECK(ev.len == strlen(text) && memcmp(ev.data, text, ev.len) == 0);
    uint8_t bin[4096];
    for (size_t i = 0; i < sizeof bin; i++) {
        bin[i] = (uint8_t)(i % 7);
    }
    CHECK_OK(ws_send(c, bin, sizeof bin, WS_MESSAGE_BINARY));
    ev = wait_kind(c, WS_EVENT_BINARY);
    CHECK(ev.len == sizeof bin && memcmp(ev.data, bin, sizeof bin) == 0);

    CHECK_OK(ws_close(c, 1000, "done"));
    wait_kind(c, WS_EVENT_STOPPED);
    /* Not open any more: the stats keep the last connection's answer. */
    CHECK_OK(ws_stats(c, &st));
    CHECK(st.compression == expect);
    CHECK_OK(ws_free(c));
}

int main(int argc, char **argv) {
    CHECK(argc == 3);
    run(argv[1], true, true);
    ok("negotiated");
    run(argv[2], true, false);
    ok("offered_not_accepted");
    run(argv[1], false, false);
    ok("not_offered");
    printf("all ok\n");
    return 0;
}
