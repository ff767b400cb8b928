/*
 * Pull mode: no callback on a foreign thread. The host asks for events with ws_next_event,
 * e.g. from its own event loop. Connects to argv[1], sends a message, prints events, closes
 * after the echo and drains the remaining events up to WS_EVENT_STOPPED.
 *
 *   ./pull ws://127.0.0.1:8002
 */
#include <stdio.h>
#include <string.h>

#include "wsbeat.h"

int main(int argc, char **argv) {
    const char *url = argc > 1 ? argv[1] : "ws://127.0.0.1:8002";
    const char *hello = "{\"ModeCode\":\"message\",\"msg\":\"hello world\"}";
    ws_config *cfg = ws_config_new();
    ws_config_set_heartbeat(cfg, WS_HEARTBEAT_PING, 4000, 2000);
    ws_client *client = NULL;
    ws_result r = ws_connect(url, cfg, NULL /* pull mode */, NULL, &client);
    ws_config_free(cfg);
    if (r != WS_OK) {
        fprintf(stderr, "ws_connect: %s\n", ws_last_error());
        return 1;
    }
    ws_send(client, (const uint8_t *)hello, strlen(hello), WS_MESSAGE_TEXT);

    int echoed = 0;
    int stopped = 0;
    /* Bounded: at most 60 one-second waits. */
    for (int i = 0; i < 60 && !stopped; i++) {
        ws_event ev;
        r = ws_next_event(client, 1000, &ev);
        if (r == WS_ERR_TIMEOUT) {
            continue;
        }
        if (r != WS_OK) { /* WS_ERR_CLOSED: every event was delivered */
            break;
        }
        /* ev's pointers are valid until the next ws_next_event call */
        switch (ev.kind) {
        case WS_EVENT_TEXT:
            printf("text: %.*s\n", (int)ev.len, (const char *)ev.data);
            if (!echoed && ev.len == strlen(hello) && memcmp(ev.data, hello, ev.len) == 0) {
                echoed = 1;
                ws_close(client, 1000, "done");
            }
            break;
        case WS_EVENT_CLOSED:
            printf("closed: %u \"%s\"\n", ev.close_code, ev.text);
            break;
        case WS_EVENT_ERROR:
            printf("error: %s\n", ev.text);
            break;
        case WS_EVENT_STOPPED:
            printf("stopped\n");
            stopped = 1;
            break;
        default:
            printf("%s\n", ws_event_kind_str(ev.kind));
            break;
        }
    }
    ws_free(client); /* also releases the last event */
    return echoed && stopped ? 0 : 1;
}
