/*
 * Tests of ws_runtime (many clients on a few shared I/O threads) through the C API, run by
 * ffi/tests/ffi_c.rs against the in-process EchoServer (also under valgrind, 30-c.sh).
 *
 * Usage: runtime_test <ws-url>
 *
 * Prints "ok <name>" per passed test, "FAIL ..." and exits 1 on the first failure, "all ok"
 * at the end. Waits are bounded and on events (a condition variable signalled by the
 * callbacks, or ws_next_event).
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wsbeat.h"

#define WAIT_S 60
#define CLIENTS 50
#define PULL_CLIENTS 10

#include "check.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- the threads of this process, from /proc/self/task -------------------------------- */

typedef struct threads {
    int total;
    int rt;     /* named wsbeat-rt-N */
    int io;     /* named wsbeat-io (a client's own I/O thread) */
} threads;

static threads count_threads(void) {
    threads t = {0, 0, 0};
    DIR *d = opendir("/proc/self/task");
    CHECK(d != NULL);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        t.total++;
        char path[300];
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0) {
            continue; /* the thread has just exited */
        }
        char name[32] = {0};
        ssize_t n = read(fd, name, sizeof name - 1);
        close(fd);
        if (n > 0 && strncmp(name, "wsbeat-rt-", 10) == 0) {
            t.rt++;
        } else if (n > 0 && strncmp(name, "wsbeat-io", 9) == 0) {
            t.io++;
        }
    }
    closedir(d);
    return t;
}

/* The name of the calling thread. */
static void thread_name(char *out, size_t n) {
    memset(out, 0, n);
    int fd = open("/proc/thread-self/comm", O_RDONLY);
    if (fd < 0) {
        return;
    }
    ssize_t got = read(fd, out, n - 1);
    close(fd);
    if (got > 0 && out[got - 1] == '\n') {
        out[got - 1] = '\0';
    }
}

/*
 * Counts that must settle: a new thread names itself a moment after ws_runtime_new returns,
 * and a joined thread leaves /proc/self/task a moment after pthread_join returns (the
 * kernel clears the thread id, which join waits for, before it removes the task). No event
 * tells when, so this looks again every 10 ms, at most 10 s, until `total` threads of
 * which `rt` are runtime threads (-1: any number).
 */
static threads threads_settle(int total, int rt) {
    threads t = count_threads();
    for (int i = 0; i < 1000 && ((total >= 0 && t.total != total) || (rt >= 0 && t.rt != rt));
         i++) {
        struct timespec pause = {0, 10 * 1000000L};
        nanosleep(&pause, NULL);
        t = count_threads();
    }
    return t;
}

/* ---- callback-mode clients: one slot each, one lock and condition for all -------------- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

typedef struct slot {
    int index;
    int opened;
    int stopped;
    int texts;
    char last_text[64];
    int not_on_rt;      /* events delivered on a thread not named wsbeat-rt-N */
    ws_client *self;    /* set before the first send */
    ws_result free_self; /* ws_free(self) from its own callback */
} slot;

static void on_event(void *userdata, const ws_event *ev) {
    slot *s = (slot *)userdata;
    char name[32];
    thread_name(name, sizeof name);
    pthread_mutex_lock(&mu);
    if (strncmp(name, "wsbeat-rt-", 10) != 0) {
        s->not_on_rt++;
    }
    ws_client *self = s->self;
    int try_free = 0;
    switch (ev->kind) {
    case WS_EVENT_OPENED:
        s->opened++;
        break;
    case WS_EVENT_TEXT: {
        size_t n = ev->len < sizeof s->last_text - 1 ? ev->len : sizeof s->last_text - 1;
        memcpy(s->last_text, ev->data, n);
        s->last_text[n] = '\0';
        s->texts++;
        try_free = strcmp(s->last_text, "free-yourself") == 0;
        break;
    }
    case WS_EVENT_STOPPED:
        s->stopped++;
        break;
    default:
        break;
    }
    pthread_mutex_unlock(&mu);
    if (try_free && self != NULL) {
        ws_result r = ws_free(self); /* refused: it is this client's own callback */
        pthread_mutex_lock(&mu);
        s->free_self = r;
        pthread_mutex_unlock(&mu);
    }
    pthread_mutex_lock(&mu);
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

/* Wait until pred(slots, n) holds, at most WAIT_S seconds. */
static int wait_all(slot *slots, int n, int (*pred)(const slot *, int)) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += WAIT_S;
    pthread_mutex_lock(&mu);
    int rc = 0;
    while (!pred(slots, n) && rc == 0) {
        rc = pthread_cond_timedwait(&cv, &mu, &deadline);
    }
    int held = pred(slots, n);
    pthread_mutex_unlock(&mu);
    return held;
}

static int all_open(const slot *s, int n) {
    for (int i = 0; i < n; i++) {
        if (s[i].opened < 1) {
            return 0;
        }
    }
    return 1;
}

static int all_texts_1(const slot *s, int n) {
    for (int i = 0; i < n; i++) {
        if (s[i].texts < 1) {
            return 0;
        }
    }
    return 1;
}

static int all_texts_2(const slot *s, int n) {
    for (int i = 0; i < n; i++) {
        if (s[i].texts < 2) {
            return 0;
        }
    }
    return 1;
}

static ws_result send_str(const ws_client *c, const char *text) {
    return ws_send(c, (const uint8_t *)text, strlen(text), WS_MESSAGE_TEXT);
}

static ws_config *rt_config(const ws_runtime *rt) {
    ws_config *cfg = ws_config_new();
    CHECK(cfg != NULL);
    CHECK_RES(ws_config_set_heartbeat(cfg, WS_HEARTBEAT_PING, 1000, 500), WS_OK);
    CHECK_RES(ws_config_set_runtime(cfg, rt), WS_OK);
    return cfg;
}

/* ---- the tests ------------------------------------------------------------------------- */

static void test_arguments(void) {
    ws_runtime *rt = (ws_runtime *)&rt; /* not NULL: must be set to NULL on failure */
    CHECK_RES(ws_runtime_new(0, &rt), WS_ERR_INVALID_ARGUMENT);
    CHECK(rt == NULL);
    CHECK(strstr(ws_last_error(), "runtime threads = 0") != NULL);
    CHECK(strstr(ws_last_error(), "1..=256") != NULL);
    rt = (ws_runtime *)&rt;
    CHECK_RES(ws_runtime_new(WS_MAX_RUNTIME_THREADS + 1, &rt), WS_ERR_INVALID_ARGUMENT);
    CHECK(rt == NULL);
    CHECK(strstr(ws_last_error(), "runtime threads = 257") != NULL);
    CHECK_RES(ws_runtime_new(2, NULL), WS_ERR_NULL_ARGUMENT);
    CHECK(strstr(ws_last_error(), "out_runtime is NULL") != NULL);

    CHECK_RES(ws_runtime_new(1, &rt), WS_OK);
    CHECK(rt != NULL);
    CHECK(ws_runtime_threads(rt) == 1);
    CHECK(ws_runtime_clients(rt) == 0);
    CHECK_RES(ws_config_set_runtime(NULL, rt), WS_ERR_NULL_ARGUMENT);
    CHECK(strstr(ws_last_error(), "config is NULL") != NULL);
    ws_config *cfg = ws_config_new();
    CHECK_RES(ws_config_set_runtime(cfg, rt), WS_OK);
    CHECK_RES(ws_config_set_runtime(cfg, NULL), WS_OK); /* back to a thread of its own */
    ws_config_free(cfg);
    ws_runtime_free(rt);
    ws_runtime_free(NULL);
    CHECK(ws_runtime_threads(NULL) == 0);
    CHECK(ws_runtime_clients(NULL) == 0);
    ok("arguments");
}

/*
 * 50 callback-mode clients on a runtime of 2 threads: 2 threads in all (named wsbeat-rt-0
 * and wsbeat-rt-1, no wsbeat-io), every client echoes, callbacks run on the runtime's
 * threads; the runtime freed before the clients, which keep working; the threads gone after
 * the last ws_free.
 */
static void test_many_clients(const char *url) {
    threads before = threads_settle(1, 0); /* the main thread alone */
    CHECK(before.total == 1 && before.rt == 0 && before.io == 0);
    ws_runtime *rt = NULL;
    CHECK_RES(ws_runtime_new(2, &rt), WS_OK);
    threads started = threads_settle(before.total + 2, 2);
    CHECK(started.rt == 2);
    CHECK(started.total == before.total + 2);

    static slot slots[CLIENTS];
    ws_client *clients[CLIENTS];
    memset(slots, 0, sizeof slots);
    ws_config *cfg = rt_config(rt);
    for (int i = 0; i < CLIENTS; i++) {
        slots[i].index = i;
        slots[i].free_self = WS_ERR_PANIC;
        CHECK_RES(ws_connect(url, cfg, on_event, &slots[i], &clients[i]), WS_OK);
    }
    ws_config_free(cfg); /* the clients keep the runtime, not the config */
    CHECK(wait_all(slots, CLIENTS, all_open));
    CHECK(ws_runtime_clients(rt) == CLIENTS);
    threads running = count_threads();
    if (running.total != before.total + 2 || running.rt != 2 || running.io != 0) {
        printf("FAIL threads: %d in all (%d before), %d wsbeat-rt, %d wsbeat-io\n",
               running.total, before.total, running.rt, running.io);
        exit(1);
    }
    for (int i = 0; i < CLIENTS; i++) {
        char text[32];
        snprintf(text, sizeof text, "client-%d", i);
        CHECK_RES(send_str(clients[i], text), WS_OK);
    }
    CHECK(wait_all(slots, CLIENTS, all_texts_1));
    pthread_mutex_lock(&mu);
    for (int i = 0; i < CLIENTS; i++) {
        char text[32];
        snprintf(text, sizeof text, "client-%d", i);
        CHECK(strcmp(slots[i].last_text, text) == 0); /* its own echo, nobody else's */
        CHECK(slots[i].not_on_rt == 0);
    }
    pthread_mutex_unlock(&mu);
    ok("many_clients_echo");

    /* Freed first: the clients still run on its threads until they are freed. */
    ws_runtime_free(rt);
    for (int i = 0; i < CLIENTS; i++) {
        CHECK_RES(send_str(clients[i], "after-runtime-free"), WS_OK);
    }
    CHECK(wait_all(slots, CLIENTS, all_texts_2));
    pthread_mutex_lock(&mu);
    for (int i = 0; i < CLIENTS; i++) {
        CHECK(strcmp(slots[i].last_text, "after-runtime-free") == 0);
    }
    pthread_mutex_unlock(&mu);
    CHECK(count_threads().rt == 2);
    ok("runtime_free_before_clients");

    /* Its own ws_free inside its callback is refused on a runtime thread too. */
    pthread_mutex_lock(&mu);
    slots[0].self = clients[0];
    pthread_mutex_unlock(&mu);
    CHECK_RES(send_str(clients[0], "free-yourself"), WS_OK);
    {
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += WAIT_S;
        pthread_mutex_lock(&mu);
        while (slots[0].free_self == WS_ERR_PANIC &&
               pthread_cond_timedwait(&cv, &mu, &deadline) == 0) {
        }
        CHECK(slots[0].free_self == WS_ERR_IN_CALLBACK);
        pthread_mutex_unlock(&mu);
    }
    ok("free_in_own_callback_refused");

    for (int i = 0; i < CLIENTS - 1; i++) {
        CHECK_RES(ws_free(clients[i]), WS_OK);
    }
    CHECK(count_threads().rt == 2); /* one client left */
    CHECK_RES(ws_free(clients[CLIENTS - 1]), WS_OK);
    threads after = threads_settle(before.total, 0);
    if (after.total != before.total || after.rt != 0) {
        printf("FAIL threads after the last ws_free: %d in all (%d before), %d wsbeat-rt\n",
               after.total, before.total, after.rt);
        exit(1);
    }
    pthread_mutex_lock(&mu);
    for (int i = 0; i < CLIENTS; i++) {
        CHECK(slots[i].stopped == 1);
    }
    pthread_mutex_unlock(&mu);
    ok("threads_end_with_last_client");
}

/* The next event of `kind` of a pull-mode client (others skipped), within WAIT_S. */
static void pull_until(ws_client *c, ws_event_kind kind, ws_event *ev) {
    double end = now_s() + WAIT_S;
    while (now_s() < end) {
        ws_result r = ws_next_event(c, 1000, ev);
        if (r == WS_ERR_TIMEOUT) {
            continue;
        }
        CHECK_RES(r, WS_OK);
        if (ev->kind == kind) {
            return;
        }
    }
    printf("FAIL no %s event within %d s\n", ws_event_kind_str(kind), WAIT_S);
    exit(1);
}

/*
 * Pull-mode clients and callback-mode clients on the same runtime of 1 thread: every one
 * echoes; a pull client whose queue is full (capacity 1, never read) does not stop the
 * others.
 */
static void test_pull_mode(const char *url) {
    ws_runtime *rt = NULL;
    CHECK_RES(ws_runtime_new(1, &rt), WS_OK);
    ws_config *cfg = rt_config(rt);
    ws_client *pull[PULL_CLIENTS];
    for (int i = 0; i < PULL_CLIENTS; i++) {
        CHECK_RES(ws_connect(url, cfg, NULL, NULL, &pull[i]), WS_OK);
        CHECK_RES(send_str(pull[i], "pulled"), WS_OK);
    }
    /* Its queue full at once (opened, then the echoes): it must stop only itself. */
    ws_config *tiny = rt_config(rt);
    CHECK_RES(ws_config_set_event_capacity(tiny, 1), WS_OK);
    ws_client *stuck = NULL;
    CHECK_RES(ws_connect(url, tiny, NULL, NULL, &stuck), WS_OK);
    for (int i = 0; i < 20; i++) {
        CHECK_RES(send_str(stuck, "unread"), WS_OK);
    }
    ws_config_free(tiny);
    static slot push;
    memset(&push, 0, sizeof push);
    ws_client *pusher = NULL;
    CHECK_RES(ws_connect(url, cfg, on_event, &push, &pusher), WS_OK);
    CHECK_RES(send_str(pusher, "pushed"), WS_OK);
    ws_config_free(cfg);

    CHECK(ws_runtime_clients(rt) == PULL_CLIENTS + 2);
    for (int i = 0; i < PULL_CLIENTS; i++) {
        ws_event ev;
        pull_until(pull[i], WS_EVENT_TEXT, &ev);
        CHECK(ev.len == 6 && memcmp(ev.data, "pulled", 6) == 0);
    }
    CHECK(wait_all(&push, 1, all_texts_1));
    pthread_mutex_lock(&mu);
    CHECK(strcmp(push.last_text, "pushed") == 0);
    CHECK(push.not_on_rt == 0);
    pthread_mutex_unlock(&mu);
    threads t = threads_settle(-1, 1);
    CHECK(t.rt == 1 && t.io == 0);

    /* ws_close from another thread returns once the client stopped, on a runtime too. */
    CHECK_RES(ws_close(pull[0], 1000, "bye"), WS_OK);
    ws_client_state st;
    CHECK_RES(ws_state(pull[0], &st), WS_OK);
    CHECK(st == WS_STATE_STOPPED);
    ws_event ev;
    pull_until(pull[0], WS_EVENT_STOPPED, &ev);
    CHECK_RES(ws_next_event(pull[0], 0, &ev), WS_ERR_CLOSED);

    /* The one with a full queue still holds its events: the first is Connecting. */
    CHECK_RES(ws_next_event(stuck, 1000, &ev), WS_OK);
    CHECK(ev.kind == WS_EVENT_CONNECTING);

    double t0 = now_s();
    CHECK_RES(ws_free(stuck), WS_OK);
    for (int i = 0; i < PULL_CLIENTS; i++) {
        CHECK_RES(ws_free(pull[i]), WS_OK);
    }
    CHECK_RES(ws_free(pusher), WS_OK);
    CHECK(now_s() - t0 < 10.0); /* each within its close bound (2.5 s), most at once */
    /* A task leaves the count just after its client's ws_free returned (the Rust runtime
     * marks the client stopped, then the worker drops the task): a moment's lag, no event. */
    for (int i = 0; i < 1000 && ws_runtime_clients(rt) != 0; i++) {
        struct timespec pause = {0, 10 * 1000000L};
        nanosleep(&pause, NULL);
    }
    CHECK(ws_runtime_clients(rt) == 0);
    ws_runtime_free(rt);
    ok("pull_mode");
}

/*
 * ws_free of a pull-mode client from the callback of another client on the same runtime
 * thread: the freed client's task runs on the very thread that waits, so ws_free must not
 * wait for it (it returns at once; the client closes on its own afterwards).
 */
typedef struct freer {
    ws_client *victim;
    ws_runtime *rt;
    double took;
    ws_result result;
    int done;
} freer;

static void free_other(void *userdata, const ws_event *ev) {
    freer *f = (freer *)userdata;
    pthread_mutex_lock(&mu);
    int first = ev->kind == WS_EVENT_TEXT && f->victim != NULL;
    ws_client *victim = f->victim;
    if (first) {
        f->victim = NULL; /* once */
    }
    pthread_mutex_unlock(&mu);
    if (!first) {
        return;
    }
    double t0 = now_s();
    ws_result r = ws_free(victim);
    ws_runtime_free(f->rt); /* from a callback of one of its clients: allowed */
    pthread_mutex_lock(&mu);
    f->took = now_s() - t0;
    f->result = r;
    f->done = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void test_free_other_on_same_thread(const char *url) {
    threads before = threads_settle(1, 0);
    ws_runtime *rt = NULL;
    CHECK_RES(ws_runtime_new(1, &rt), WS_OK);
    ws_config *cfg = rt_config(rt);
    CHECK_RES(ws_config_set_close_timeout(cfg, 5000), WS_OK);
    ws_client *victim = NULL;
    CHECK_RES(ws_connect(url, cfg, NULL, NULL, &victim), WS_OK);
    ws_event ev;
    pull_until(victim, WS_EVENT_OPENED, &ev);
    static freer f;
    memset(&f, 0, sizeof f);
    f.victim = victim;
    f.rt = rt;
    ws_client *killer = NULL;
    CHECK_RES(ws_connect(url, cfg, free_other, &f, &killer), WS_OK);
    ws_config_free(cfg);
    CHECK_RES(send_str(killer, "go"), WS_OK);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += WAIT_S;
    pthread_mutex_lock(&mu);
    while (!f.done && pthread_cond_timedwait(&cv, &mu, &deadline) == 0) {
    }
    CHECK(f.done);
    CHECK(f.result == WS_OK);
    /* Waiting would have taken the close bound (5.5 s): the thread was the one waiting. */
    if (f.took > 2.5) {
        printf("FAIL ws_free from another client's callback took %.2f s\n", f.took);
        exit(1);
    }
    pthread_mutex_unlock(&mu);
    CHECK_RES(send_str(killer, "still-alive"), WS_OK);
    CHECK_RES(ws_free(killer), WS_OK);
    /* The last client freed: the runtime's thread ended (after the victim's close). */
    threads t = threads_settle(before.total, 0);
    CHECK(t.total == before.total && t.rt == 0);
    ok("free_other_from_callback_same_thread");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s <ws-url>\n", argv[0]);
        return 2;
    }
    const char *url = argv[1];
    test_arguments();
    test_many_clients(url);
    test_pull_mode(url);
    test_free_other_on_same_thread(url);
    printf("all ok\n");
    return 0;
}
