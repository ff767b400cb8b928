// The seed article's demo through the C++ wrapper (include/wsbeat.hpp): seed JSON heartbeat,
// send {"ModeCode":"message","msg":"hello world"}, print events, close after the echo.
//
//   g++ -std=c++17 -Wall -Iinclude examples/cpp/demo.cpp -Ltarget/release -lwsbeat
//       -Wl,-rpath,target/release -pthread -o demo_cpp   (one line)
//   ./demo_cpp ws://127.0.0.1:8002
#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <string>

#include "wsbeat.hpp"

int main(int argc, char **argv) {
    using namespace std::chrono_literals;
    const std::string url = argc > 1 ? argv[1] : "ws://127.0.0.1:8002";
    const std::string hello = R"({"ModeCode":"message","msg":"hello world"})";
    std::mutex mu;
    std::condition_variable cv;
    bool echoed = false;

    try {
        std::cout << "wsbeat " << wsbeat::version() << std::endl;
        wsbeat::set_logger(
            [](ws_log_level, std::string_view target, std::string_view message) {
                std::cerr << "[" << target << "] " << message << std::endl;
            },
            WS_LOG_INFO);

        wsbeat::Config config;
        config.heartbeat(WS_HEARTBEAT_SEED_JSON, 4s, 2s).backoff(3s, 3s, 1.0, 0.0);

        auto client = wsbeat::Client::connect(url, config, [&](const wsbeat::EventView &ev) {
            switch (ev.kind()) {
            case WS_EVENT_OPENED:
                std::cout << "open: changeBtnState('open')" << std::endl;
                break;
            case WS_EVENT_TEXT: {
                std::cout << "message: " << ev.data() << std::endl;
                if (ev.data() == hello) {
                    std::lock_guard<std::mutex> lock(mu);
                    echoed = true;
                    cv.notify_one();
                }
                break;
            }
            case WS_EVENT_CLOSED:
                std::cout << "closed: " << ev.raw().close_code << " \"" << ev.text() << "\""
                          << std::endl;
                break;
            case WS_EVENT_ERROR:
                std::cout << "error: " << ev.text() << std::endl;
                break;
            default:
                std::cout << ev.name() << std::endl;
                break;
            }
        });
        client.send_text(hello); // queued until open

        {
            std::unique_lock<std::mutex> lock(mu);
            cv.wait_for(lock, 10s, [&] { return echoed; });
        }
        client.close(1000, "bye");
        std::cout << "messages out: " << client.stats().messages_out << std::endl;
        // ~Client frees it: no callback runs afterwards.
    } catch (const wsbeat::Error &e) {
        std::cerr << "wsbeat error " << e.code() << ": " << e.what() << std::endl;
        return 1;
    }
    wsbeat::clear_logger();
    std::cout << (echoed ? "demo done" : "no echo within 10 s") << std::endl;
    return echoed ? 0 : 1;
}
