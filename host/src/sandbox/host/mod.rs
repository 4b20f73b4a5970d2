//! The host side of the interfaces the contract lets providers import,
//! one file per interface. WASI itself comes from `wasmtime-wasi` and
//! `wasmtime-wasi-http` (its requests checked in [`http`]).

pub(crate) mod components;
pub(crate) mod context;
pub(crate) mod files;
pub(crate) mod http;
pub(crate) mod log;
pub(crate) mod process;
pub(crate) mod secrets;
