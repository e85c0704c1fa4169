// xnorflow's Verilator shim: a C interface to one Verilated accelerator (class Vdut, made with
// --prefix Vdut) whose top has the AXI4-Stream style ports of hdl::accel::verilog. Rust loads it
// with libloading and clocks it one cycle per xf_cycle call (sim/src/verilator.rs).
//
// The library is built with VL_USER_FATAL, VL_USER_STOP and VL_USER_FINISH, so the three
// functions below replace Verilator's: its fatal errors (a `$readmemh` file with a syntax error,
// `$stop`, an internal check) would otherwise print and call abort() in the host process. Here
// they throw; every entry point catches, marks the instance dead and returns the message to Rust.
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "Vdut.h"
#include "verilated.h"
#if VM_TRACE
#include "verilated_vcd_c.h"
#endif

namespace {

struct XfFatal : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::string where(const char* filename, int linenum) {
    return (filename && filename[0]) ? std::string(filename) + ":" + std::to_string(linenum) + ": " : "";
}

}  // namespace

void vl_fatal(const char* filename, int linenum, const char* hier, const char* msg) {
    (void)hier;
    Verilated::threadContextp()->gotError(true);
    Verilated::threadContextp()->gotFinish(true);
    throw XfFatal(where(filename, linenum) + (msg ? msg : "fatal error"));
}

void vl_stop(const char* filename, int linenum, const char* hier) {
    (void)hier;
    Verilated::threadContextp()->gotFinish(true);
    throw XfFatal(where(filename, linenum) + "Verilog $stop");
}

// `$finish` ends nothing but the run: Verilator's own exits the process on a second call.
void vl_finish(const char* filename, int linenum, const char* hier) {
    (void)filename;
    (void)linenum;
    (void)hier;
    Verilated::threadContextp()->gotFinish(true);
}

namespace {

struct Xf {
    std::unique_ptr<VerilatedContext> ctx;
    std::unique_ptr<Vdut> top;
#if VM_TRACE
    std::unique_ptr<VerilatedVcdC> vcd;
#endif
    uint64_t t = 0;
    std::string error;  // set once a fatal error killed the instance
};

void set_error(char* err, uint32_t len, const std::string& msg) {
    if (!err || len == 0) return;
    const std::size_t n = msg.size() < len - 1 ? msg.size() : len - 1;
    std::memcpy(err, msg.data(), n);
    err[n] = 0;
}

// The number of 32-bit words put/get move for a port (at least two for a scalar port).
template <class T>
struct WordsOf {
    static constexpr uint32_t value = 2;
};
template <std::size_t N>
struct WordsOf<VlWide<N>> {
    static constexpr uint32_t value = N < 2 ? 2 : static_cast<uint32_t>(N);
};
template <class T>
constexpr uint32_t words_of() {
    return WordsOf<typename std::remove_cv<typename std::remove_reference<T>::type>::type>::value;
}

// Ports of up to 64 bits are integers in Verilator; `w` always has at least two words.
template <class T>
void put(T& port, const uint32_t* w) {
    port = static_cast<T>(static_cast<uint64_t>(w[0]) | (static_cast<uint64_t>(w[1]) << 32));
}
template <std::size_t N>
void put(VlWide<N>& port, const uint32_t* w) {
    for (std::size_t i = 0; i < N; ++i) port[i] = w[i];
}
template <class T>
void get(const T& port, uint32_t* w) {
    const uint64_t v = static_cast<uint64_t>(port);
    w[0] = static_cast<uint32_t>(v);
    w[1] = static_cast<uint32_t>(v >> 32);
}
template <std::size_t N>
void get(const VlWide<N>& port, uint32_t* w) {
    for (std::size_t i = 0; i < N; ++i) w[i] = port[i];
}

void dump(Xf* x) {
#if VM_TRACE
    if (x->vcd) x->vcd->dump(x->t);
#else
    (void)x;
#endif
    x->t += 5;
}

// One clock cycle (see xf_cycle); may throw XfFatal.
uint32_t cycle(Xf* x, uint32_t rst, uint32_t s_valid, const uint32_t* s_data, uint32_t m_ready,
               uint32_t* m_data) {
    Vdut* top = x->top.get();
    top->rst = rst;
    top->s_axis_tvalid = s_valid;
    put(top->s_axis_tdata, s_data);
    top->m_axis_tready = m_ready;
    top->clk = 0;
    top->eval();
    dump(x);
    const uint32_t r = (top->s_axis_tready ? 1u : 0u) | (top->m_axis_tvalid ? 2u : 0u);
    get(top->m_axis_tdata, m_data);
    top->clk = 1;
    top->eval();
    dump(x);
    return r;
}

}  // namespace

extern "C" {

// A new instance; `vcd` (may be null) names a VCD file to write when built with tracing. Returns
// null and writes the message into `err` (of `len` bytes) when the design fails to start (e.g. a
// `$readmemh` file Verilator cannot read).
void* xf_new(const char* vcd, char* err, uint32_t len) {
    auto x = std::make_unique<Xf>();
    try {
        x->ctx = std::make_unique<VerilatedContext>();
        x->ctx->traceEverOn(vcd != nullptr);
        x->ctx->fatalOnError(true);
        x->top = std::make_unique<Vdut>(x->ctx.get());
#if VM_TRACE
        if (vcd) {
            x->vcd = std::make_unique<VerilatedVcdC>();
            x->top->trace(x->vcd.get(), 99);
            x->vcd->open(vcd);
            if (!x->vcd->isOpen()) throw XfFatal(std::string("cannot open the VCD file ") + vcd);
        }
#endif
        x->top->clk = 1;
        x->top->rst = 1;
        x->top->eval();
    } catch (const std::exception& e) {
        set_error(err, len, e.what());
        // The model may be half-built: leak it rather than run destructors on broken state.
        (void)x.release();
        return nullptr;
    }
    return x.release();
}

// The 32-bit words xf_cycle reads from `s_data` and writes to `m_data`: the caller's buffers must
// hold at least these many, checked before the first cycle.
void xf_port_words(uint32_t* in_words, uint32_t* out_words) {
    *in_words = words_of<decltype(Vdut::s_axis_tdata)>();
    *out_words = words_of<decltype(Vdut::m_axis_tdata)>();
}

// The message of the fatal error that killed the instance (empty if none).
void xf_error(void* h, char* err, uint32_t len) { set_error(err, len, static_cast<Xf*>(h)->error); }

void xf_free(void* h) {
    auto* x = static_cast<Xf*>(h);
    if (!x->error.empty()) return;  // broken state: leak rather than run its destructors
    try {
        x->top->final();
#if VM_TRACE
        if (x->vcd) x->vcd->close();
#endif
        delete x;
    } catch (const std::exception&) {
    }
}

// Whether this library was built with tracing.
uint32_t xf_traced(void) { return VM_TRACE; }

// One clock cycle: inputs applied and settled with the clock low, ports sampled, then the rising
// edge. Returns bit 0 = s_axis_tready, bit 1 = m_axis_tvalid; m_axis_tdata goes to `m_data`.
// Bit 31 set: a fatal error killed the instance (see xf_error); nothing else is valid.
uint32_t xf_cycle(void* h, uint32_t rst, uint32_t s_valid, const uint32_t* s_data, uint32_t m_ready,
                  uint32_t* m_data) {
    auto* x = static_cast<Xf*>(h);
    if (!x->error.empty()) return 1u << 31;
    try {
        return cycle(x, rst, s_valid, s_data, m_ready, m_data);
    } catch (const std::exception& e) {
        x->error = e.what();
        if (x->error.empty()) x->error = "fatal error";
        return 1u << 31;
    }
}

}  // extern "C"
