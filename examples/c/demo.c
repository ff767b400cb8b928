/*
 * The seed article's demo in C: connect with the seed JSON heartbeat (every 4 s, reply within
 * 2 s) and the seed's fixed 3 s reconnect delay, send {"ModeCode":"message","msg":"hello
 * world"}, print every event, close once the echo arrived (or after 10 s).
 *
 *   cargo build --release
 *   gcc -std=c99 -Wall -Wextra -Iinclude examples/c/demo.c -Ltarget/release -lwsbeat \
 *       -Wl,-rpath,target/release -pthread -o demo
 *   ./demo ws://127.0.0.1:8002
 *
 * Events arrive on the client's I/O thread; the main thread waits on a condition variable.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "wsbeat.h"

static const char *HELLO = "{\"ModeCode\":\"message\",\"msg\":\"hello world\"}";

typedef struct demo {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int echoed;
} demo;

static void on_event(void *userdata, const ws_event *ev) {
    demo *d = (demo *)userdata;
    switch (ev->kind) {
    case WS_EVENT_CONNECTING:
        printf("connecting (attempt %u)\n", ev->attempt);
        break;
    case WS_EVENT_OPENED:
        printf("open%s: changeBtnState('open')\n", ev->reconnect ? " (reconnected)" : "");
        break;
    case WS_EVENT_TEXT:
        /* data is NUL-terminated after len bytes; it is valid only during this call */
        printf("message: %s\n", (const char *)ev->data);
        if (ev->len == strlen(HELLO) && memcmp(ev->data, HELLO, ev->len) == 0) {
            pthread_mutex_lock(&d->mu);
            d->echoed = 1;
            pthread_cond_signal(&d->cv);
            pthread_mutex_unlock(&d->mu);
        }
        break;
    case WS_EVENT_BINARY:
        printf("binary message: %zu bytes\n", ev->len);
        break;
    case WS_EVENT_PONG:
        printf("heartbeat answered in %.1f ms\n", (double)ev->rtt_us / 1000.0);
        break;
    case WS_EVENT_HEARTBEAT_TIMEOUT:
        printf("no heartbeat response for %llu ms, disconnected\n",
               (unsigned long long)ev->silent_ms);
        break;
    case WS_EVENT_CLOSED:
        printf("closed: code %u reason \"%s\"%s: changeBtnState('close')\n", ev->close_code,
               ev->text, ev->will_reconnect ? ", will reconnect" : "");
        break;
    case WS_EVENT_RECONNECTING:
        printf("reconnect #%u in %llu ms\n", ev->attempt, (unsigned long long)ev->delay_ms);
        break;
    case WS_EVENT_ERROR:
        printf("error (%s): %s\n", ws_error_kind_str(ev->error_kind), ev->text);
        break;
    case WS_EVENT_STOPPED:
        printf("stopped (%zu unsent messages)\n", ev->message_count);
        break;
    default:
        break;
    }
    fflush(stdout);
}

static void on_log(void *userdata, ws_log_level level, const char *target, const char *message) {
    (void)userdata;
    fprintf(stderr, "[%s %s] %s\n", level <= WS_LOG_WARN ? "WARN" : "INFO", target, message);
}

static int fail(const char *what, ws_result r) {
    fprintf(stderr, "%s: %s (%s)\n", what, ws_result_str(r), ws_last_error());
    return 1;
}

int main(int argc, char **argv) {
    const char *url = argc > 1 ? argv[1] : "ws://127.0.0.1:8002";
    demo d;
    d.echoed = 0;
    pthread_mutex_init(&d.mu, NULL);
    pthread_cond_init(&d.cv, NULL);
    printf("wsbeat %s\n", ws_version());
    ws_set_logger(on_log, NULL, WS_LOG_INFO);

    ws_config *cfg = ws_config_new();
    ws_result r = ws_config_set_heartbeat(cfg, WS_HEARTBEAT_SEED_JSON, 4000, 2000);
    if (r == WS_OK) {
        r = ws_config_set_backoff(cfg, 3000, 3000, 1.0, 0.0); /* the seed's fixed delay */
    }
    if (r != WS_OK) {
        ws_config_free(cfg);
        return fail("config", r);
    }
    ws_client *client = NULL;
    r = ws_connect(url, cfg, on_event, &d, &client);
    ws_config_free(cfg); /* the client copied what it needs */
    if (r != WS_OK) {
        return fail("ws_connect", r);
    }

    /* Queued until the connection opens. */
    r = ws_send(client, (const uint8_t *)HELLO, strlen(HELLO), WS_MESSAGE_TEXT);
    if (r != WS_OK) {
        ws_free(client);
        return fail("ws_send", r);
    }

    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    pthread_mutex_lock(&d.mu);
    while (!d.echoed) {
        if (pthread_cond_timedwait(&d.cv, &d.mu, &deadline) != 0) {
            break;
        }
    }
    int echoed = d.echoed;
    pthread_mutex_unlock(&d.mu);

    r = ws_close(client, 1000, "bye"); /* the Close button: never reconnects */
    if (r != WS_OK) {
        fail("ws_close", r);
    }
    ws_free(client); /* no callback runs after this returns */
    ws_clear_logger();
    pthread_mutex_destroy(&d.mu);
    pthread_cond_destroy(&d.cv);
    printf(echoed ? "demo done\n" : "no echo within 10 s\n");
    return echoed ? 0 : 1;
}
