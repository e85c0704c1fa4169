//! The SPRAM weight loader's contract: which memories it fills, in which order, and the bytes it
//! expects. SPRAM is not initialized by the iCE40 configuration image, so a design with weights in
//! SPRAM (`wmem=spram`) receives them over the UART at power-on (the board top,
//! [`super::board`]); `xnorflow bitstream` writes the same bytes as `weights.bin`.
//!
//! Order: every SPRAM weight memory, MVTUs in `Graph::all_nodes` order, each MVTU's PEs from 0;
//! in each memory every word from address 0. Each word is [`LoadBus::word_bytes`] bytes (the
//! widest memory's), least significant first; a narrower memory's word is zero-extended.
//!
//! The loader's bus into the accelerator (`wload_we`, `wload_sel`, `wload_addr`, `wload_data` on
//! the AXI top and the core, present only when the design has SPRAM): on a clock with `wload_we`,
//! memory number `wload_sel` (in the order above) takes `wload_data` at `wload_addr`.

use crate::words::ubits;
use crate::HdlError;
use compiler::dataflow::{Graph, NodeKind};
use compiler::model::Model;

/// The byte that starts a weight image on the UART (`'W'`).
pub const LOAD_MAGIC: u8 = 0x57;

/// The byte the board sends once every SPRAM word is written (`'K'`).
pub const LOAD_ACK: u8 = 0x4B;

/// The accelerator's loader ports: write enable, memory select, word address, word.
pub const PORTS: [&str; 4] = ["wload_we", "wload_sel", "wload_addr", "wload_data"];

/// One SPRAM weight memory: PE `pe` of MVTU node `node`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpramMem {
    /// The MVTU's node name.
    pub node: String,
    /// The PE.
    pub pe: usize,
    /// Bits per word (the MVTU's SIMD).
    pub width: usize,
    /// The words, address 0 first.
    pub words: Vec<Vec<u64>>,
}

/// The widths of the loader's bus for a set of memories.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadBus {
    /// Bits of `wload_sel`.
    pub sel_bits: usize,
    /// Bits of `wload_addr` (the deepest memory's address).
    pub addr_bits: usize,
    /// Bits of `wload_data` (the widest memory's word).
    pub data_bits: usize,
    /// Memories.
    pub count: usize,
}

impl LoadBus {
    /// The bus for `mems` (none when there are none).
    pub fn of(mems: &[SpramMem]) -> Option<LoadBus> {
        if mems.is_empty() {
            return None;
        }
        let depth = mems.iter().map(|m| m.words.len().max(1)).max().unwrap_or(1);
        Some(LoadBus {
            sel_bits: ubits(mems.len() as u64 - 1).max(1),
            addr_bits: ubits(depth as u64 - 1).max(1),
            data_bits: mems.iter().map(|m| m.width).max().unwrap_or(1),
            count: mems.len(),
        })
    }

    /// UART bytes per word.
    pub fn word_bytes(&self) -> usize {
        self.data_bits.div_ceil(8)
    }
}

/// Every SPRAM weight memory of a legalized graph, in loading order.
pub fn spram_memories(graph: &Graph, model: &Model) -> Result<Vec<SpramMem>, HdlError> {
    let mut out = Vec::new();
    for n in graph.all_nodes() {
        if let NodeKind::Mvtu { layer, cfg, hw: Some(hw), .. } = &n.kind {
            if hw.wmem.spram() == 0 {
                continue;
            }
            let (w, _) = crate::accel::layer_weights(model, &n.name, *layer, cfg)?;
            for pe in 0..cfg.pe {
                out.push(SpramMem {
                    node: n.name.clone(),
                    pe,
                    width: cfg.simd,
                    words: cfg.weight_words(w, pe),
                });
            }
        }
    }
    Ok(out)
}

/// The bytes the loader expects after [`LOAD_MAGIC`] (the magic not included): every word of
/// every memory in order, [`LoadBus::word_bytes`] bytes each, least significant first.
pub fn image(mems: &[SpramMem]) -> Vec<u8> {
    let Some(bus) = LoadBus::of(mems) else { return Vec::new() };
    let wb = bus.word_bytes();
    let mut out = Vec::with_capacity(mems.iter().map(|m| m.words.len() * wb).sum());
    for m in mems {
        for w in &m.words {
            for b in 0..wb {
                let word = w.get(b / 8).copied().unwrap_or(0);
                out.push((word >> (8 * (b % 8))) as u8);
            }
        }
    }
    out
}
