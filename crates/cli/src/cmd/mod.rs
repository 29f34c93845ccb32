//! One module per subcommand: its clap `Args` and a `run` function that calls the libraries.

pub mod activations;
pub mod bench;
pub mod compare;
pub mod fit;
pub mod plan;
pub mod recommend;
pub mod report;
pub mod run;
pub mod sweep;
pub mod train;
