//! Training of binarized networks, exported to xnorflow's model format.
//!
//! This crate will own the training loop of IR-Net (Libra-PB + EDE) and its baselines (STE/BNN,
//! XNOR-Net, Bi-Real) and the folding of BatchNorm + sign into integer thresholds. Today it holds
//! [`prototype`], a training-free nearest-prototype classifier that needs no gradient and gives the
//! built-in demo a real, data-derived model. It depends on `compiler` only.

pub mod prototype;
