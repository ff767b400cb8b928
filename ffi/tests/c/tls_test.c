/*
 * The TLS options of the C API against a wss:// echo server with a test CA (run by
 * ffi/tests/ffi_c.rs).
 *
 * Usage: tls_test <wss-url> <ca.pem> <mtls-wss-url> <client-cert.pem> <client-key.pem>
 *
 * The first server's certificate is issued for 127.0.0.1 by the test CA; the second one also
 * requires a client certificate issued by that CA. Pull mode, every wait bounded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsbeat.h"

#include "check.h"

/* Read a whole file into a malloc'd buffer. */
static uint8_t *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    CHECK(fseek(f, 0, SEEK_END) == 0);
    long n = ftell(f);
    CHECK(n > 0);
    CHECK(fseek(f, 0, SEEK_SET) == 0);
    uint8_t *buf = malloc((size_t)n);
    CHECK(buf != NULL);
    CHECK(fread(buf, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static ws_config *base_config(void) {
    ws_config *cfg = ws_config_new();
    CHECK_OK(ws_config_set_heartbeat(cfg, WS_HEARTBEAT_OFF, 0, 0));
    CHECK_OK(ws_config_set_backoff(cfg, 50, 200, 2.0, 0.0));
    CHECK_OK(ws_config_set_max_attempts(cfg, 2));
    return cfg;
}

/* Connect in pull mode; return 1 if the connection opened and echoed, 0 if the client stopped
 * first (then *error_kind holds the last error kind). */
static int try_echo(const char *url, ws_config *cfg, uint32_t *error_kind) {
    ws_client *c = NULL;
    ws_event ev;
    CHECK_OK(ws_connect(url, cfg, NULL, NULL, &c));
    ws_config_free(cfg);
    *error_kind = WS_ERROR_NONE;
    int echoed = 0;
    for (int i = 0; i < 200; i++) {
        ws_result r = ws_next_event(c, 30000, &ev);
        if (r != WS_OK) {
            break;
        }
        if (ev.kind == WS_EVENT_OPENED) {
            CHECK_OK(ws_send(c, (const uint8_t *)"secure", 6, WS_MESSAGE_TEXT));
        } else if (ev.kind == WS_EVENT_TEXT) {
            CHECK(ev.len == 6 && memcmp(ev.data, "secure", 6) == 0);
            echoed = 1;
            CHECK_OK(ws_close(c, 1000, "tls done"));
        } else if (ev.kind == WS_EVENT_ERROR) {
            *error_kind = ev.error_kind;
            printf("  error (%s): %s\n", ws_error_kind_str(ev.error_kind), ev.text);
        } else if (ev.kind == WS_EVENT_STOPPED) {
            break;
        }
    }
    CHECK(ws_free(c) == WS_OK);
    return echoed;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s <wss-url> <ca.pem> <mtls-url> <cert.pem> <key.pem>\n", argv[0]);
        return 2;
    }
    const char *url = argv[1], *ca_path = argv[2], *mtls_url = argv[3];
    uint32_t kind;
    size_t ca_len, cert_len, key_len;
    uint8_t *ca = slurp(ca_path, &ca_len);
    uint8_t *cert = slurp(argv[4], &cert_len);
    uint8_t *key = slurp(argv[5], &key_len);

    /* The test CA is unknown to the bundled roots: a certificate error, not retried. */
    CHECK(!try_echo(url, base_config(), &kind));
    CHECK(kind == WS_ERROR_CERTIFICATE);
    ok("unknown_ca_rejected");

    ws_config *cfg = base_config();
    CHECK_OK(ws_config_tls_add_ca_file(cfg, ca_path));
    CHECK_OK(ws_config_tls_set_bundled_roots(cfg, false));
    CHECK(try_echo(url, cfg, &kind));
    ok("ca_file");

    cfg = base_config();
    CHECK_OK(ws_config_tls_add_ca_pem(cfg, ca, ca_len));
    CHECK(try_echo(url, cfg, &kind));
    ok("ca_pem");

    cfg = base_config();
    CHECK_OK(ws_config_tls_dangerous_disable_verification(cfg, true));
    CHECK(try_echo(url, cfg, &kind));
    ok("dangerous_disable_verification");

    /* Trusting nothing is refused at connect. */
    cfg = base_config();
    CHECK_OK(ws_config_tls_set_bundled_roots(cfg, false));
    ws_client *c = NULL;
    ws_result r = ws_connect(url, cfg, NULL, NULL, &c);
    ws_config_free(cfg);
    CHECK(r == WS_ERR_TLS && c == NULL);
    ok("trust_nothing_refused");

    /* A key that is not PEM is refused at connect. */
    cfg = base_config();
    CHECK_OK(ws_config_tls_add_ca_pem(cfg, ca, ca_len));
    CHECK_OK(ws_config_tls_set_client_cert_pem(cfg, cert, cert_len, (const uint8_t *)"junk", 4));
    r = ws_connect(url, cfg, NULL, NULL, &c);
    ws_config_free(cfg);
    CHECK(r == WS_ERR_TLS && c == NULL);
    ok("bad_client_key_refused");

    /* Mutual TLS: without a client certificate the server refuses, with it the echo works. */
    cfg = base_config();
    CHECK_OK(ws_config_tls_add_ca_pem(cfg, ca, ca_len));
    CHECK(!try_echo(mtls_url, cfg, &kind));
    CHECK(kind != WS_ERROR_NONE);
    cfg = base_config();
    CHECK_OK(ws_config_tls_add_ca_pem(cfg, ca, ca_len));
    CHECK_OK(ws_config_tls_set_client_cert_pem(cfg, cert, cert_len, key, key_len));
    CHECK(try_echo(mtls_url, cfg, &kind));
    ok("mutual_tls");

    free(ca);
    free(cert);
    free(key);
    printf("all ok\n");
    return 0;
}
