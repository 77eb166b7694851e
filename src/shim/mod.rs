//! The only code that touches the proxy-wasm ABI: its imports and one `impl
//! Host` (abi.rs), and the exports that hand each callback to the core
//! (exports.rs). It makes no decisions.

mod abi;
mod exports;
