//! The one integration test binary: the `quiver` command and the engine API, end to end.

mod copy;
mod engine;
mod server;
mod shell;
