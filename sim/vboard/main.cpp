// The virtual board: the verilated board top-level (hw.board.BoardTop) clocked in a C++ loop,
// its serial line bridged to a TCP port. The UART is simulated bit by bit on both sides: the
// bytes a host sends over TCP are shifted into the design's rx pin at the design's bit rate,
// and the design's tx pin is sampled at the centre of each bit to recover the bytes it sends.
//
//   vboard --port P --divisor D     (P = 0: any free port)
//
// Prints "listening on <port>" once the socket is open. One host at a time; when it
// disconnects the board keeps running. SIGTERM or SIGINT end the simulation.
#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "Vboard_top.h"
#include "verilated.h"

static volatile std::sig_atomic_t g_stop = 0;
static void on_signal(int) { g_stop = 1; }

// Host -> board: drives the rx pin, one bit every `divisor` cycles.
struct LineDriver {
    int divisor;
    std::deque<unsigned char> queue;
    int bit = -1;  // -1 idle, 0 start, 1..8 data, 9 stop
    int count = 0;
    unsigned char byte = 0;
    int level() const {
        if (bit < 0 || bit == 9) return 1;
        if (bit == 0) return 0;
        return (byte >> (bit - 1)) & 1;
    }
    void tick() {
        if (bit < 0) {
            if (queue.empty()) return;
            byte = queue.front();
            queue.pop_front();
            bit = 0;
            count = divisor;
            return;
        }
        if (--count == 0) {
            count = divisor;
            if (++bit == 10) bit = -1;
        }
    }
};

// Board -> host: samples the tx pin at the centre of each bit.
struct LineSampler {
    int divisor;
    std::deque<unsigned char> out;
    int bit = -1;  // -1 waiting for a start bit, 0..7 data, 8 stop
    int count = 0;
    unsigned char byte = 0;
    long framing_errors = 0;
    void tick(int level) {
        if (bit < 0) {
            if (level == 0) {  // start bit: the first data bit's centre is 1.5 bits away
                bit = 0;
                count = divisor + divisor / 2;
                byte = 0;
            }
            return;
        }
        if (--count) return;
        count = divisor;
        if (bit < 8) {
            byte |= (level & 1) << bit;
            ++bit;
        } else {
            if (level) out.push_back(byte);
            else ++framing_errors;
            bit = -1;
        }
    }
};

static int listen_on(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (bind(fd, (sockaddr*)&addr, sizeof addr) || listen(fd, 1)) {
        std::perror("vboard: cannot listen");
        std::exit(2);
    }
    socklen_t len = sizeof addr;
    getsockname(fd, (sockaddr*)&addr, &len);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    std::printf("listening on %d\n", ntohs(addr.sin_port));
    std::fflush(stdout);
    return fd;
}

int main(int argc, char** argv) {
    int port = 0, divisor = 16;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--port")) port = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--divisor")) divisor = std::atoi(argv[i + 1]);
    }
    if (divisor < 16) {
        std::fprintf(stderr, "vboard: divisor must be at least 16, not %d\n", divisor);
        return 2;
    }
    prctl(PR_SET_PDEATHSIG, SIGTERM);  // end with the process that started us
    std::signal(SIGTERM, on_signal);
    std::signal(SIGINT, on_signal);
    std::signal(SIGPIPE, SIG_IGN);
    Verilated::commandArgs(argc, argv);
    Vboard_top* top = new Vboard_top;
    int server = listen_on(port);
    int client = -1;

    LineDriver drv{divisor};
    LineSampler smp{divisor};
    top->rx = 1;  // the design holds itself in reset for its first 8 cycles
    unsigned char buf[4096];
    unsigned long long cycle = 0;
    while (!g_stop) {
        top->rx = drv.level();
        top->clk = 0; top->eval();
        top->clk = 1; top->eval();
        drv.tick();
        smp.tick(top->tx);
        if ((++cycle & 255) != 0) continue;
        if (client < 0) {
            int c = accept(server, nullptr, nullptr);
            if (c >= 0) {
                fcntl(c, F_SETFL, O_NONBLOCK);
                int one = 1;
                setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                client = c;
            }
        }
        if (client >= 0) {
            ssize_t n = recv(client, buf, sizeof buf, 0);
            if (n > 0) {
                drv.queue.insert(drv.queue.end(), buf, buf + n);
            } else if (n == 0) {  // the host left; what the board still sends is dropped
                close(client);
                client = -1;
            }
        }
        if (!smp.out.empty()) {
            if (client >= 0) {
                size_t k = 0;
                while (!smp.out.empty() && k < sizeof buf) {
                    buf[k++] = smp.out.front();
                    smp.out.pop_front();
                }
                ssize_t sent = 0;
                while (sent < (ssize_t)k) {
                    ssize_t s = send(client, buf + sent, k - sent, 0);
                    if (s > 0) sent += s;
                    else if (s < 0 && errno != EAGAIN && errno != EWOULDBLOCK) break;
                }
            } else {
                smp.out.clear();
            }
        }
        if (client < 0 && drv.queue.empty() && (cycle & 0xFFFFF) == 0) usleep(1000);
    }
    if (client >= 0) close(client);
    close(server);
    top->final();
    delete top;
    std::fprintf(stderr, "vboard: %llu cycles, %ld framing errors on tx\n", cycle,
                 smp.framing_errors);
    return 0;
}
