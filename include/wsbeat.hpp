/*
 * wsbeat.hpp: a small header-only C++17 RAII wrapper over the wsbeat C API (wsbeat.h).
 *
 *   wsbeat::Config cfg;
 *   cfg.heartbeat(WS_HEARTBEAT_SEED_JSON, std::chrono::seconds(4), std::chrono::seconds(2));
 *   auto client = wsbeat::Client::connect("ws://127.0.0.1:8002", cfg,
 *       [](const wsbeat::EventView& ev) { std::cout << ev.name() << "\n"; });
 *   client.send_text(R"({"ModeCode":"message","msg":"hello world"})");
 *   client.send_text_wait("waits for outbox room", std::chrono::seconds(5));
 *   client.close(1000, "bye");
 *
 * Rules (the C API's, see wsbeat.h and docs/C_API.md):
 * - Failures throw wsbeat::Error (the ws_result code and ws_last_error() text).
 * - Callbacks run on the client's I/O thread (a runtime thread with Config::runtime, shared
 *   with the other clients of that thread: keep callbacks short). An exception escaping a callback is caught and
 *   dropped (it cannot cross the C boundary). From inside a callback you may use the client
 *   (send, close, on_event) but not destroy it.
 * - An EventView borrows the event: valid during the callback (callback mode) or until the
 *   next next_event() call (pull mode). Copy what you keep (e.g. std::string(ev.text())).
 * - Client is move-only; its destructor closes (code 1000) and frees the client, waiting for
 *   its I/O thread (bounded by the close timeout + 500 ms). No callback runs afterwards.
 */
#ifndef WSBEAT_HPP
#define WSBEAT_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wsbeat.h"

namespace wsbeat {

/// A failed call: the result code and the library's message.
class Error : public std::runtime_error {
public:
    Error(ws_result code, const std::string &what) : std::runtime_error(what), code_(code) {}
    /// The ws_result of the failed call.
    ws_result code() const noexcept { return code_; }

private:
    ws_result code_;
};

namespace detail {
inline void check(ws_result r) {
    if (r != WS_OK) {
        throw Error(r, std::string(ws_result_str(r)) + ": " + ws_last_error());
    }
}

/// ws_send_wait's result: true when queued, false when the outbox stayed full; throws otherwise.
inline bool queued(ws_result r) {
    if (r == WS_ERR_OUTBOX_FULL) {
        return false;
    }
    check(r);
    return true;
}

inline uint64_t millis(std::chrono::milliseconds d) {
    return d.count() < 0 ? 0 : static_cast<uint64_t>(d.count());
}
} // namespace detail

/// A borrowed view of a ws_event (see the lifetime rule above).
class EventView {
public:
    explicit EventView(const ws_event &ev) noexcept : ev_(&ev) {}
    /// The event kind.
    ws_event_kind kind() const noexcept { return ev_->kind; }
    /// A short name: "opened", "text", ...
    const char *name() const noexcept { return ws_event_kind_str(ev_->kind); }
    /// The payload of WS_EVENT_TEXT / WS_EVENT_BINARY (empty for other kinds).
    std::string_view data() const noexcept {
        return ev_->data == nullptr
                   ? std::string_view()
                   : std::string_view(reinterpret_cast<const char *>(ev_->data), ev_->len);
    }
    /// The close reason, error description or selected subprotocol (see ws_event.text).
    std::string_view text() const noexcept { return std::string_view(ev_->text, ev_->text_len); }
    /// WS_EVENT_OPENED: whether permessage-deflate was negotiated.
    bool compression() const noexcept { return ev_->compression; }
    /// The underlying C event.
    const ws_event &raw() const noexcept { return *ev_; }

private:
    const ws_event *ev_;
};

/// Owns a ws_runtime: a few I/O threads shared by many clients (Config::runtime). Move-only.
/// It may be destroyed before the clients on it: its threads end with the last of them.
class Runtime {
public:
    /// Start `threads` I/O threads (1..=WS_MAX_RUNTIME_THREADS); throws wsbeat::Error.
    explicit Runtime(uint32_t threads) { detail::check(ws_runtime_new(threads, &rt_)); }
    ~Runtime() { ws_runtime_free(rt_); }
    Runtime(const Runtime &) = delete;
    Runtime &operator=(const Runtime &) = delete;
    Runtime(Runtime &&other) noexcept : rt_(std::exchange(other.rt_, nullptr)) {}
    Runtime &operator=(Runtime &&other) noexcept {
        if (this != &other) {
            ws_runtime_free(rt_);
            rt_ = std::exchange(other.rt_, nullptr);
        }
        return *this;
    }

    /// The number of I/O threads.
    uint32_t threads() const noexcept { return ws_runtime_threads(rt_); }
    /// The number of clients running on it now.
    uint32_t clients() const noexcept { return ws_runtime_clients(rt_); }
    /// The underlying C runtime (still owned by this object).
    const ws_runtime *get() const noexcept { return rt_; }

private:
    ws_runtime *rt_ = nullptr;
};

/// Owns a ws_config. Setters throw wsbeat::Error on invalid values and return *this.
class Config {
public:
    Config() : cfg_(ws_config_new()) {
        if (cfg_ == nullptr) {
            throw std::bad_alloc();
        }
    }
    ~Config() { ws_config_free(cfg_); }
    Config(const Config &) = delete;
    Config &operator=(const Config &) = delete;
    Config(Config &&other) noexcept : cfg_(std::exchange(other.cfg_, nullptr)) {}
    Config &operator=(Config &&other) noexcept {
        if (this != &other) {
            ws_config_free(cfg_);
            cfg_ = std::exchange(other.cfg_, nullptr);
        }
        return *this;
    }

    Config &heartbeat(ws_heartbeat_mode mode, std::chrono::milliseconds interval,
                      std::chrono::milliseconds timeout) {
        detail::check(ws_config_set_heartbeat(cfg_, mode, detail::millis(interval),
                                              detail::millis(timeout)));
        return *this;
    }
    Config &reconnect(bool enabled) {
        detail::check(ws_config_set_reconnect(cfg_, enabled));
        return *this;
    }
    Config &backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max,
                    double factor, double jitter) {
        detail::check(ws_config_set_backoff(cfg_, detail::millis(initial), detail::millis(max),
                                            factor, jitter));
        return *this;
    }
    Config &max_attempts(uint32_t n) {
        detail::check(ws_config_set_max_attempts(cfg_, n));
        return *this;
    }
    Config &min_uptime(std::chrono::milliseconds d) {
        detail::check(ws_config_set_min_uptime(cfg_, detail::millis(d)));
        return *this;
    }
    Config &outbox_limits(std::size_t max_messages, std::size_t max_bytes) {
        detail::check(ws_config_set_outbox_limits(cfg_, max_messages, max_bytes));
        return *this;
    }
    Config &max_message_size(std::size_t bytes) {
        detail::check(ws_config_set_max_message_size(cfg_, bytes));
        return *this;
    }
    Config &connect_timeout(std::chrono::milliseconds d) {
        detail::check(ws_config_set_connect_timeout(cfg_, detail::millis(d)));
        return *this;
    }
    Config &close_timeout(std::chrono::milliseconds d) {
        detail::check(ws_config_set_close_timeout(cfg_, detail::millis(d)));
        return *this;
    }
    Config &pong_events(bool on) {
        detail::check(ws_config_set_pong_events(cfg_, on));
        return *this;
    }
    Config &event_capacity(std::size_t n) {
        detail::check(ws_config_set_event_capacity(cfg_, n));
        return *this;
    }
    Config &header(const std::string &name, const std::string &value) {
        detail::check(ws_config_add_header(cfg_, name.c_str(), value.c_str()));
        return *this;
    }
    /// A further endpoint (ws_config_add_endpoint): round-robin after each failure.
    Config &endpoint(const std::string &url) {
        detail::check(ws_config_add_endpoint(cfg_, url.c_str()));
        return *this;
    }
    /// permessage-deflate (ws_config_set_compression): offered when `enabled`; whether the
    /// server accepted is ws_event.compression (WS_EVENT_OPENED) and stats().compression.
    Config &compression(bool enabled, uint32_t window_bits = 15,
                        bool no_context_takeover = false, std::size_t min_size = 64) {
        detail::check(ws_config_set_compression(cfg_, enabled, window_bits,
                                                no_context_takeover, min_size));
        return *this;
    }
    /// Put the clients connected with this config on `rt`'s shared threads (the config
    /// keeps them alive until it is destroyed or set again).
    Config &runtime(const Runtime &rt) {
        detail::check(ws_config_set_runtime(cfg_, rt.get()));
        return *this;
    }
    /// Back to an I/O thread of each client's own (the default).
    Config &no_runtime() {
        detail::check(ws_config_set_runtime(cfg_, nullptr));
        return *this;
    }
    Config &subprotocol(const std::string &protocol) {
        detail::check(ws_config_add_subprotocol(cfg_, protocol.c_str()));
        return *this;
    }
    Config &tls_add_ca_pem(std::string_view pem) {
        detail::check(ws_config_tls_add_ca_pem(
            cfg_, reinterpret_cast<const uint8_t *>(pem.data()), pem.size()));
        return *this;
    }
    Config &tls_add_ca_file(const std::string &path) {
        detail::check(ws_config_tls_add_ca_file(cfg_, path.c_str()));
        return *this;
    }
    Config &tls_client_cert_pem(std::string_view chain, std::string_view key) {
        detail::check(ws_config_tls_set_client_cert_pem(
            cfg_, reinterpret_cast<const uint8_t *>(chain.data()), chain.size(),
            reinterpret_cast<const uint8_t *>(key.data()), key.size()));
        return *this;
    }
    Config &tls_dangerous_disable_verification(bool disable) {
        detail::check(ws_config_tls_dangerous_disable_verification(cfg_, disable));
        return *this;
    }

    /// The underlying C config (still owned by this object).
    const ws_config *get() const noexcept { return cfg_; }
    ws_config *get() noexcept { return cfg_; }

private:
    ws_config *cfg_;
};

/// Owns a ws_client (move-only).
class Client {
public:
    /// The event callback: runs on the client's I/O thread.
    using Callback = std::function<void(const EventView &)>;

    /// Callback mode: every event goes to `callback`, from the first on.
    static Client connect(const std::string &url, const Config &config, Callback callback) {
        if (!callback) {
            throw Error(WS_ERR_NULL_ARGUMENT, "empty callback");
        }
        Client c;
        c.holder_ = std::make_unique<Holder>(Holder{std::move(callback)});
        detail::check(ws_connect(url.c_str(), config.get(), &Client::trampoline,
                                 c.holder_.get(), &c.client_));
        return c;
    }

    /// Pull mode: events wait for next_event().
    static Client connect_pull(const std::string &url, const Config &config) {
        Client c;
        detail::check(ws_connect(url.c_str(), config.get(), nullptr, nullptr, &c.client_));
        return c;
    }

    Client(Client &&other) noexcept
        : client_(std::exchange(other.client_, nullptr)), holder_(std::move(other.holder_)),
          retired_(std::move(other.retired_)), pulled_(other.pulled_) {}
    Client &operator=(Client &&other) noexcept {
        if (this != &other) {
            reset();
            client_ = std::exchange(other.client_, nullptr);
            holder_ = std::move(other.holder_);
            retired_ = std::move(other.retired_);
            pulled_ = other.pulled_;
        }
        return *this;
    }
    Client(const Client &) = delete;
    Client &operator=(const Client &) = delete;
    ~Client() { reset(); }

    /// Queue a text message (must be UTF-8).
    void send_text(std::string_view text) {
        detail::check(ws_send(client_, reinterpret_cast<const uint8_t *>(text.data()),
                              text.size(), WS_MESSAGE_TEXT));
    }
    /// Queue a binary message.
    void send_binary(const void *data, std::size_t len) {
        detail::check(ws_send(client_, static_cast<const uint8_t *>(data), len,
                              WS_MESSAGE_BINARY));
    }
    /// Queue a binary message.
    void send_binary(std::string_view bytes) { send_binary(bytes.data(), bytes.size()); }
    /// Queue a text message, waiting up to `timeout` for outbox room (negative: no limit; see
    /// ws_send_wait). Returns false when the outbox was still full at the end (nothing
    /// queued); other failures (WS_ERR_CLOSED, ...) throw. Does not wait inside a callback.
    bool send_text_wait(std::string_view text, std::chrono::milliseconds timeout) {
        return detail::queued(ws_send_wait(client_, reinterpret_cast<const uint8_t *>(text.data()),
                                           text.size(), WS_MESSAGE_TEXT,
                                           static_cast<int64_t>(timeout.count())));
    }
    /// Queue a binary message, waiting up to `timeout` for outbox room (as send_text_wait).
    bool send_binary_wait(const void *data, std::size_t len, std::chrono::milliseconds timeout) {
        return detail::queued(ws_send_wait(client_, static_cast<const uint8_t *>(data), len,
                                           WS_MESSAGE_BINARY,
                                           static_cast<int64_t>(timeout.count())));
    }
    /// Close gracefully (code 1000 or 3000..=4999, reason at most 123 bytes).
    void close(uint16_t code = 1000, const std::string &reason = std::string()) {
        detail::check(ws_close(client_, code, reason.c_str()));
    }
    /// Drop the connection and connect again at once.
    void reconnect_now() { detail::check(ws_reconnect_now(client_)); }
    /// Replace the callback (callback mode only). The previous one is kept alive until the
    /// client is destroyed, so this is safe from inside a callback too.
    void on_event(Callback callback) {
        if (!callback) {
            throw Error(WS_ERR_NULL_ARGUMENT, "empty callback");
        }
        auto next = std::make_unique<Holder>(Holder{std::move(callback)});
        detail::check(ws_on_event(client_, &Client::trampoline, next.get()));
        if (holder_) {
            retired_.push_back(std::move(holder_));
        }
        holder_ = std::move(next);
    }
    /// Pull mode: the next event within `timeout` (negative: no limit), or std::nullopt on
    /// timeout. The view is valid until the next call. Throws wsbeat::Error with
    /// WS_ERR_CLOSED after the last event (WS_EVENT_STOPPED) was returned.
    std::optional<EventView> next_event(std::chrono::milliseconds timeout) {
        ws_result r = ws_next_event(client_, static_cast<int64_t>(timeout.count()), &pulled_);
        if (r == WS_ERR_TIMEOUT) {
            return std::nullopt;
        }
        detail::check(r);
        return EventView(pulled_);
    }
    /// The current state.
    ws_client_state state() const {
        ws_client_state s = WS_STATE_STOPPED;
        detail::check(ws_state(client_, &s));
        return s;
    }
    /// A snapshot of the counters.
    ws_client_stats stats() const {
        ws_client_stats s{};
        detail::check(ws_stats(client_, &s));
        return s;
    }
    /// The underlying C client (still owned by this object).
    ws_client *get() const noexcept { return client_; }

private:
    struct Holder {
        Callback callback;
    };

    Client() = default;

    static void trampoline(void *userdata, const ws_event *event) noexcept {
        try {
            static_cast<Holder *>(userdata)->callback(EventView(*event));
        } catch (...) {
            // An exception must not cross the C boundary: dropped.
        }
    }

    void reset() noexcept {
        if (client_ == nullptr) {
            return;
        }
        if (ws_free(client_) == WS_ERR_IN_CALLBACK) {
            // Destroyed inside its own callback: close it and leak the client and its
            // callbacks rather than free memory that is still in use.
            ws_close(client_, 1000, nullptr);
            (void)holder_.release();
            for (auto &h : retired_) {
                (void)h.release();
            }
        }
        client_ = nullptr;
        holder_.reset();
        retired_.clear();
    }

    ws_client *client_ = nullptr;
    std::unique_ptr<Holder> holder_;
    std::vector<std::unique_ptr<Holder>> retired_;
    ws_event pulled_{};
};

/// The logger callback: level, target, message (views valid during the call).
using LogFunction = std::function<void(ws_log_level, std::string_view, std::string_view)>;

namespace detail {
struct LoggerState {
    std::mutex mu;
    std::unique_ptr<LogFunction> current;
};

inline LoggerState &logger_state() {
    static LoggerState state;
    return state;
}

inline void log_trampoline(void *userdata, ws_log_level level, const char *target,
                           const char *message) noexcept {
    try {
        (*static_cast<LogFunction *>(userdata))(level, target, message);
    } catch (...) {
        // An exception must not cross the C boundary: dropped.
    }
}
} // namespace detail

/// Route the library's log records up to `max_level` to `fn` (process-wide; replaces the
/// previous logger). `fn` may run on any thread, concurrently.
inline void set_logger(LogFunction fn, ws_log_level max_level) {
    auto &st = detail::logger_state();
    std::lock_guard<std::mutex> lock(st.mu);
    auto next = std::make_unique<LogFunction>(std::move(fn));
    detail::check(ws_set_logger(&detail::log_trampoline, next.get(), max_level));
    st.current = std::move(next); // the previous one is no longer running (ws_set_logger)
}

/// Stop routing log records.
inline void clear_logger() {
    auto &st = detail::logger_state();
    std::lock_guard<std::mutex> lock(st.mu);
    detail::check(ws_clear_logger());
    st.current.reset();
}

/// The library version, e.g. "0.1.0".
inline std::string_view version() noexcept { return ws_version(); }

} // namespace wsbeat

#endif // WSBEAT_HPP
