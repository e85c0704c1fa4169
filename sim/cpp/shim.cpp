// xnorflow's Verilator shim: a C interface to one Verilated accelerator (class Vdut, made with
// --prefix Vdut) whose top has the AXI4-Stream style ports of hdl::accel::verilog. Rust loads it
// with libloading and clocks it one cycle per xf_cycle call (sim/src/verilator.rs).
#include <cstdint>
#include <memory>

#include "Vdut.h"
#include "verilated.h"
#if VM_TRACE
#include "verilated_vcd_c.h"
#endif

namespace {

struct Xf {
    std::unique_ptr<VerilatedContext> ctx;
    std::unique_ptr<Vdut> top;
#if VM_TRACE
    std::unique_ptr<VerilatedVcdC> vcd;
#endif
    uint64_t t = 0;
};

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

}  // namespace

extern "C" {

// A new instance; `vcd` (may be null) names a VCD file to write when built with tracing.
void* xf_new(const char* vcd) {
    auto* x = new Xf;
    x->ctx = std::make_unique<VerilatedContext>();
    x->ctx->traceEverOn(vcd != nullptr);
    x->top = std::make_unique<Vdut>(x->ctx.get());
#if VM_TRACE
    if (vcd) {
        x->vcd = std::make_unique<VerilatedVcdC>();
        x->top->trace(x->vcd.get(), 99);
        x->vcd->open(vcd);
    }
#endif
    x->top->clk = 1;
    x->top->rst = 1;
    x->top->eval();
    return x;
}

void xf_free(void* h) {
    auto* x = static_cast<Xf*>(h);
    x->top->final();
#if VM_TRACE
    if (x->vcd) x->vcd->close();
#endif
    delete x;
}

// Whether this library was built with tracing.
uint32_t xf_traced(void) { return VM_TRACE; }

// One clock cycle: inputs applied and settled with the clock low, ports sampled, then the rising
// edge. Returns bit 0 = s_axis_tready, bit 1 = m_axis_tvalid; m_axis_tdata goes to `m_data`.
uint32_t xf_cycle(void* h, uint32_t rst, uint32_t s_valid, const uint32_t* s_data, uint32_t m_ready,
                  uint32_t* m_data) {
    auto* x = static_cast<Xf*>(h);
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

}  // extern "C"
