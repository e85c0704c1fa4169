//! xnorflow's hardware library (not built yet).
//!
//! This crate will own the streaming blocks written with rust-hdl 0.46, kept behind xnorflow's own
//! types: XNOR-popcount lanes, the matrix-vector-threshold unit folded by PE and SIMD, the 8-bit
//! first layer, sliding-window and max-pool units, FIFOs and width converters, and the emission of
//! synthesizable Verilog with memory files. It will depend on `compiler` only.
