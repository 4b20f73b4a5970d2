//! The host side of the interfaces the contract lets providers import,
//! one file per interface. WASI itself comes from `wasmtime-wasi`.

pub(crate) mod log;
