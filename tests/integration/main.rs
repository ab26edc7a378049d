//! The one integration test binary: the `quiver` command and the engine API, end to end.

// Helpers outside #[test] functions panic on failure by design (clippy.toml's
// allow-unwrap-in-tests covers only the test functions themselves).
#![allow(clippy::unwrap_used)]

mod copy;
mod engine;
mod server;
mod shell;
