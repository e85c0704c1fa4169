//! Training of binarized networks on the CPU and their bit-exact export to xnorflow's model format.
//!
//! - [`method`]: the binarization methods (STE/BNN, XNOR-Net, Bi-Real, IR-Net with Libra-PB and EDE),
//!   each a forward sign with the method's surrogate gradient.
//! - [`fused`]: the one-pass CPU kernels behind them (sign with surrogate gradient, Libra-PB's
//!   standardization).
//! - [`arch`]: architectures (TFC / SFC / LFC and resnet presets, a compact syntax with convolutions,
//!   pools and residual blocks).
//! - [`net`]: the float network (candle, reverse-mode autodiff), its training and inference passes.
//! - [`trainer`]: the shared training loop (Adam, cosine schedule, EDE schedule, checkpoints).
//! - [`export`]: BatchNorm + sign to integer thresholds, scales folded, gamma < 0 rows inverted.
//!
//! It depends on `compiler` only (and candle); nothing but the CLI depends on it.

pub mod arch;
pub mod export;
pub mod fused;
pub mod method;
pub mod net;
pub mod trainer;
