/*
 * Benchmark client on wsbeat's C ABI (include/wsbeat.h, libwsbeat).
 *
 * Speaks the harness's measure command line (see BENCHMARKS.md):
 *   wsbeat_client --url URL --mode latency|throughput --n N --size BYTES [--warmup N]
 *                 [--api callback|pull]
 * and prints one JSON object: {"n","p50_us","p99_us","mean_us"} or
 * {"n","size","secs","msgs_per_s","mb_per_s"}.
 *
 * latency, --api callback (default): the next message is sent from inside the event callback.
 * latency, --api pull: the main thread sends, then waits for the echo with ws_next_event.
 * throughput: pull mode; ws_send_wait sleeps while the outbox is full (60 s at most: any
 * failure ends the measure).
 *
 * Built by scripts/bench.sh: cc -O2 -Iinclude bench/c/wsbeat_client.c -Ltarget/release -lwsbeat
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wsbeat.h"

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_us(const uint64_t *sorted, size_t n, double p) {
    size_t rank = (size_t)ceil(p * (double)n);
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return (double)sorted[rank - 1] / 1e3;
}

static void print_latency(uint64_t *ns, size_t n) {
    qsort(ns, n, sizeof *ns, cmp_u64);
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += (double)ns[i];
    printf("{\"n\":%zu,\"p50_us\":%.3f,\"p99_us\":%.3f,\"mean_us\":%.1f}\n", n,
           pct_us(ns, n, 0.50), pct_us(ns, n, 0.99), sum / (double)n / 1e3);
}

struct args {
    char url[512];
    const char *mode;
    const char *api;
    size_t n, size, warmup;
};

static ws_client *connect_pull(const char *url) {
    ws_config *cfg = ws_config_new(); /* the defaults (20 s ping), like the Rust clients */
    ws_client *c = NULL;
    ws_result r = ws_connect(url, cfg, NULL, NULL, &c);
    ws_config_free(cfg);
    if (r != WS_OK) {
        fprintf(stderr, "ws_connect: %s\n", ws_last_error());
        exit(1);
    }
    return c;
}

/* The next event of `kind`, failing on close/stop/timeout. */
static ws_event wait_kind(ws_client *c, ws_event_kind kind) {
    for (;;) {
        ws_event ev;
        ws_result r = ws_next_event(c, 30000, &ev);
        if (r != WS_OK) {
            fprintf(stderr, "waiting for %s: %s\n", ws_event_kind_str(kind), ws_result_str(r));
            exit(1);
        }
        if (ev.kind == kind) return ev;
        if (ev.kind == WS_EVENT_CLOSED || ev.kind == WS_EVENT_STOPPED) {
            fprintf(stderr, "waiting for %s: %s\n", ws_event_kind_str(kind),
                    ws_event_kind_str(ev.kind));
            exit(1);
        }
    }
}

static int latency_pull(const struct args *a, const char *payload) {
    ws_client *c = connect_pull(a->url);
    wait_kind(c, WS_EVENT_OPENED);
    uint64_t *ns = malloc(a->n * sizeof *ns);
    for (size_t i = 0; i < a->warmup + a->n; i++) {
        uint64_t t0 = now_ns();
        ws_send(c, (const uint8_t *)payload, a->size, WS_MESSAGE_TEXT);
        wait_kind(c, WS_EVENT_TEXT);
        if (i >= a->warmup) ns[i - a->warmup] = now_ns() - t0;
    }
    ws_free(c);
    print_latency(ns, a->n);
    free(ns);
    return 0;
}

struct cb_state {
    const struct args *a;
    const char *payload;
    size_t i, total;
    uint64_t t0;
    uint64_t *ns;
    int done;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static ws_client *cb_client; /* set by latency_callback before any echo can arrive */

static void on_event_send(void *userdata, const ws_event *ev) {
    struct cb_state *s = userdata;
    if (ev->kind == WS_EVENT_OPENED || ev->kind == WS_EVENT_TEXT) {
        uint64_t now = now_ns();
        if (ev->kind == WS_EVENT_TEXT) {
            if (s->i >= s->a->warmup) s->ns[s->i - s->a->warmup] = now - s->t0;
            s->i++;
            if (s->i == s->total) {
                pthread_mutex_lock(&s->mu);
                s->done = 1;
                pthread_cond_signal(&s->cv);
                pthread_mutex_unlock(&s->mu);
                return;
            }
        }
        /* Wait (once, at open) until ws_connect has returned the handle. */
        while (__atomic_load_n(&cb_client, __ATOMIC_ACQUIRE) == NULL) sched_yield();
        s->t0 = now_ns();
        ws_send(cb_client, (const uint8_t *)s->payload, s->a->size, WS_MESSAGE_TEXT);
    }
}

static int latency_callback(const struct args *a, const char *payload) {
    struct cb_state s = {.a = a, .payload = payload, .total = a->warmup + a->n};
    s.ns = malloc(a->n * sizeof *s.ns);
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    ws_config *cfg = ws_config_new(); /* the defaults (20 s ping), like the Rust clients */
    ws_client *c = NULL;
    ws_result r = ws_connect(a->url, cfg, on_event_send, &s, &c);
    ws_config_free(cfg);
    if (r != WS_OK) {
        fprintf(stderr, "ws_connect: %s\n", ws_last_error());
        return 1;
    }
    __atomic_store_n(&cb_client, c, __ATOMIC_RELEASE);
    pthread_mutex_lock(&s.mu);
    while (!s.done) pthread_cond_wait(&s.cv, &s.mu);
    pthread_mutex_unlock(&s.mu);
    ws_free(c);
    print_latency(s.ns, a->n);
    free(s.ns);
    return 0;
}

static int throughput(const struct args *a, const char *payload) {
    ws_client *c = connect_pull(a->url);
    wait_kind(c, WS_EVENT_OPENED);
    uint32_t kind = a->size <= 1024 ? WS_MESSAGE_TEXT : WS_MESSAGE_BINARY;
    uint64_t t0 = now_ns();
    for (size_t i = 0; i <= a->n; i++) { /* a->n messages, then "?ack" */
        ws_result r = i < a->n
                          ? ws_send_wait(c, (const uint8_t *)payload, a->size, kind, 60000)
                          : ws_send_wait(c, (const uint8_t *)"?ack", 4, WS_MESSAGE_TEXT, 60000);
        if (r != WS_OK) {
            fprintf(stderr, "ws_send_wait: %s\n", ws_last_error());
            return 1;
        }
    }
    ws_event ev = wait_kind(c, WS_EVENT_TEXT);
    double secs = (double)(now_ns() - t0) / 1e9;
    unsigned long long count = 0, bytes = 0;
    if (sscanf((const char *)ev.data, "{\"count\":%llu,\"bytes\":%llu}", &count, &bytes) != 2 ||
        count != a->n || bytes != (unsigned long long)a->n * a->size) {
        fprintf(stderr, "sink counted %s, expected %zu messages\n", (const char *)ev.data, a->n);
        return 1;
    }
    ws_free(c);
    printf("{\"n\":%zu,\"size\":%zu,\"secs\":%.6f,\"msgs_per_s\":%.1f,\"mb_per_s\":%.3f}\n",
           a->n, a->size, secs, (double)a->n / secs, (double)(a->n * a->size) / secs / 1e6);
    return 0;
}

int main(int argc, char **argv) {
    struct args a = {.mode = "latency", .api = "callback", .size = 64};
    const char *base = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--url")) base = v;
        else if (!strcmp(k, "--mode")) a.mode = v;
        else if (!strcmp(k, "--api")) a.api = v;
        else if (!strcmp(k, "--n")) a.n = strtoul(v, NULL, 10);
        else if (!strcmp(k, "--size")) a.size = strtoul(v, NULL, 10);
        else if (!strcmp(k, "--warmup")) a.warmup = strtoul(v, NULL, 10);
        else {
            fprintf(stderr, "unknown flag %s\n", k);
            return 2;
        }
    }
    if (!base || a.n == 0) {
        fprintf(stderr, "usage: wsbeat_client --url URL --mode M --n N [--size S]\n");
        return 2;
    }
    int latency = !strcmp(a.mode, "latency");
    snprintf(a.url, sizeof a.url, "%s/%s", base, latency ? "echo" : "sink");
    char *payload = malloc(a.size + 1);
    memset(payload, 'x', a.size);
    payload[a.size] = 0;
    int rc;
    if (!latency) rc = throughput(&a, payload);
    else if (!strcmp(a.api, "pull")) rc = latency_pull(&a, payload);
    else rc = latency_callback(&a, payload);
    free(payload);
    return rc;
}
