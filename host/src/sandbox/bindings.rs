//! The one `bindgen!` call: host-side bindings for the `sluice:provider`
//! WIT package. Exports are called asynchronously so that a long-running
//! guest yields to the runtime and can be cut off at its deadline.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "sluice:provider/source-provider",
    exports: { default: async },
});
