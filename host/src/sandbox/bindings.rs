//! The one `bindgen!` call: host-side bindings for the `sluice:provider`
//! WIT package. Exports are called asynchronously so that a long-running
//! guest yields to the runtime and can be cut off at its deadline; the
//! imports that wait on the world (running a program, another component)
//! are async too.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "sluice:provider/source-provider",
    imports: {
        "sluice:provider/process": async,
        "sluice:provider/components": async,
        "sluice:provider/files": async,
    },
    exports: { default: async },
});
