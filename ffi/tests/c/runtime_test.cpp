// wsbeat::Runtime (include/wsbeat.hpp) through the C++ wrapper, run by ffi/tests/ffi_c.rs:
// a bad thread count throws, pull-mode and callback clients on one runtime echo, the runtime
// may go before its clients.
//
//   runtime_test_cpp ws://127.0.0.1:PORT     prints "all ok" (exit 0) or "FAIL ..." (exit 1)
#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <string>
#include <vector>

#include "wsbeat.hpp"

#define CHECK(cond)                                                                         \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            std::cout << "FAIL " << __LINE__ << ": " #cond << std::endl;                   \
            return 1;                                                                       \
        }                                                                                   \
    } while (0)

int main(int argc, char **argv) {
    using namespace std::chrono_literals;
    if (argc < 2) {
        return 2;
    }
    const std::string url = argv[1];
    try {
        for (uint32_t bad : {0u, static_cast<uint32_t>(WS_MAX_RUNTIME_THREADS + 1)}) {
            try {
                wsbeat::Runtime rt(bad);
                CHECK(false);
            } catch (const wsbeat::Error &e) {
                CHECK(e.code() == WS_ERR_INVALID_ARGUMENT);
                CHECK(std::string(e.what()).find("runtime threads") != std::string::npos);
            }
        }
        std::vector<wsbeat::Client> clients;
        std::mutex mu;
        std::condition_variable cv;
        int pushed = 0;
        {
            wsbeat::Runtime rt(2);
            CHECK(rt.threads() == 2);
            wsbeat::Config cfg;
            cfg.runtime(rt);
            for (int i = 0; i < 5; i++) {
                clients.push_back(wsbeat::Client::connect_pull(url, cfg));
            }
            clients.push_back(wsbeat::Client::connect(url, cfg, [&](const wsbeat::EventView &ev) {
                if (ev.kind() == WS_EVENT_TEXT) {
                    std::lock_guard<std::mutex> lock(mu);
                    pushed++;
                    cv.notify_all();
                }
            }));
            CHECK(rt.clients() == 6);
            cfg.no_runtime();
        } // the runtime and the config go first: the clients keep its threads
        for (auto &c : clients) {
            c.send_text("hello runtime");
        }
        for (int i = 0; i < 5; i++) {
            bool echoed = false;
            for (int n = 0; n < 60 && !echoed; n++) { // bounded
                auto ev = clients[i].next_event(1000ms);
                echoed = ev && ev->kind() == WS_EVENT_TEXT && ev->data() == "hello runtime";
            }
            CHECK(echoed);
        }
        {
            std::unique_lock<std::mutex> lock(mu);
            CHECK(cv.wait_for(lock, 60s, [&] { return pushed == 1; }));
        }
        clients.clear(); // the last one ends the runtime's threads
    } catch (const wsbeat::Error &e) {
        std::cout << "FAIL wsbeat error " << e.code() << ": " << e.what() << std::endl;
        return 1;
    }
    std::cout << "all ok" << std::endl;
    return 0;
}
