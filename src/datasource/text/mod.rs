//! Plain-text files as tables: `read_text(glob)` gives one row per file (filename, size,
//! content), `read_lines(glob)` one row per line (filename, line_number, line). Files are
//! spread over partitions by size and read in parallel, each on a blocking thread.

mod decode;
mod exec;
mod func;

pub use exec::{TextExec, TextFile};
pub use func::{ReadLinesFunc, ReadTextFunc, TextTable, text_table_functions};

/// What a text table yields per file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// One row per file.
    Files,
    /// One row per line.
    Lines,
}
