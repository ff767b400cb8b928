// permessage-deflate through the C++ wrapper (run by ffi/tests/ffi_c.rs c_compression):
// Config::compression, EventView::compression, stats().compression.
//
//   compression_test_cpp <deflate_url> <plain_url>
#include <chrono>
#include <iostream>
#include <string>

#include "wsbeat.hpp"

static bool opened_with(const std::string &url, bool offer, bool expect) {
    using namespace std::chrono_literals;
    wsbeat::Config config;
    config.reconnect(false).compression(offer);
    auto client = wsbeat::Client::connect_pull(url, config);
    for (int i = 0; i < 50; i++) { // bounded
        auto ev = client.next_event(1000ms);
        if (!ev) {
            continue;
        }
        if (ev->kind() == WS_EVENT_OPENED) {
            bool ok = ev->compression() == expect && client.stats().compression == expect;
            client.close(1000, "done");
            return ok;
        }
        if (ev->kind() == WS_EVENT_STOPPED) {
            return false;
        }
    }
    return false;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        return 2;
    }
    try {
        bool ok = opened_with(argv[1], true, true) && opened_with(argv[2], true, false) &&
                  opened_with(argv[1], false, false);
        std::cout << (ok ? "cpp ok" : "cpp FAIL") << std::endl;
        return ok ? 0 : 1;
    } catch (const wsbeat::Error &e) {
        std::cerr << "wsbeat error " << e.code() << ": " << e.what() << std::endl;
    }
    return 1;
}
