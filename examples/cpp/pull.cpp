// Pull mode through the C++ wrapper: the host's own loop asks for events.
//
//   ./pull_cpp ws://127.0.0.1:8002
#include <chrono>
#include <iostream>
#include <string>

#include "wsbeat.hpp"

int main(int argc, char **argv) {
    using namespace std::chrono_literals;
    const std::string url = argc > 1 ? argv[1] : "ws://127.0.0.1:8002";
    try {
        wsbeat::Config config;
        auto client = wsbeat::Client::connect_pull(url, config);
        // Waits (at most 5 s) for outbox room instead of failing when the outbox is full.
        if (!client.send_text_wait("hello from C++", 5s)) {
            std::cerr << "outbox still full" << std::endl;
            return 1;
        }
        bool echoed = false;
        for (int i = 0; i < 60; i++) { // bounded
            auto ev = client.next_event(1000ms);
            if (!ev) {
                continue; // timeout
            }
            std::cout << ev->name();
            if (ev->kind() == WS_EVENT_TEXT) {
                std::cout << ": " << ev->data();
                echoed = true;
                client.close(1000, "done");
            }
            std::cout << std::endl;
            if (ev->kind() == WS_EVENT_STOPPED) {
                return echoed ? 0 : 1;
            }
        }
    } catch (const wsbeat::Error &e) {
        std::cerr << "wsbeat error " << e.code() << ": " << e.what() << std::endl;
    }
    return 1;
}
