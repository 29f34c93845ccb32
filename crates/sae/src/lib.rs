//! Sparse autoencoders on burn: the model, the published training recipes, checkpoints that
//! resume exactly, and export to SAELens.
//!
//! In saescale's flow (spec → plan → runs → store → table → fit → report) this crate is one
//! run: `saescale train` hands it a resolved [`saescale_spec::RunSpec`] and an output
//! directory, and [`train`] fills that directory with the log, the held-out metrics, the
//! trainer state and the exported SAE. Everything is generic over burn's `Backend`: the CPU
//! backend `Flex` by default, CUDA behind the `cuda` feature.
//!
//! Principal items:
//! - [`Sae`] (model.rs): four tensors and the forward pass, in SAELens's layout.
//! - [`loss`]: the ReLU and TopK objectives with gradients written out by hand (checked
//!   against burn's autodiff in the tests).
//! - [`Trainer`] (trainer.rs): one step of the recipe, and the state that makes resumption exact.
//! - [`train`] (run.rs): the loop over a run directory, with logging, checkpoints, signals;
//!   the directory's files and records are saescale-spec's ([`saescale_spec::layout`],
//!   [`saescale_spec::records`]).
//! - [`export_saelens`]: the SAELens v6 directory.
//! - [`select`]: the k largest pre-activations of each row, without a full sort on the CPU.
//! - [`sparse`]: the TopK step on the k active latents of each row (`train.topk_kernel = "sparse"`).
//! - [`precision`]: f32 or bf16 matmuls over f32 master weights.
//! - [`bench`]: throughput of the training step and the matmul peak.
//!
//! Design decisions: gradients are computed by hand rather than by autodiff (see
//! [`loss`]); Adam and global-norm clipping are written on plain tensors (see [`optim`]) so
//! that the whole optimiser state is in the checkpoint; the data and the initial weights
//! are pure functions of seeds, so the state needs no random-generator snapshot.

pub mod bench;
mod dead;
mod error;
pub mod export;
mod fs;
pub mod host;
mod init;
pub mod loss;
pub mod memory;
pub mod model;
pub mod optim;
pub mod precision;
mod run;
pub mod schedule;
pub mod select;
pub mod sparse;
pub mod tensors;
mod trainer;

#[cfg(test)]
mod test_util;

pub use dead::DeadLatents;
pub use error::{Error, Result};
pub use export::export_saelens;
pub use init::init_sae;
pub use model::{Activation, Sae};
pub use precision::MatmulPrecision;
pub use run::{train, Observer, Outcome, Silent};
pub use trainer::{Evaluation, StepReading, Trainer};
