//! Read blocks shared by the NetCDF scan and dense aggregation: runs of dimension-0 indices
//! holding about a million values, cut at file boundaries and at whole storage chunks. A
//! block is what one read call decodes and what is in memory at a time, so scans of large
//! files stream instead of reading a partition's whole range at once; files have no chunk
//! cache, so blocks that end inside a chunk would decode it twice.

use super::schema::ArrayLayout;

/// Values per block (4 MB of float32).
pub(crate) const BLOCK_ELEMENTS: u64 = 1 << 20;

/// A run of dimension-0 indices inside one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReadBlock {
    pub file: usize,
    /// Global dimension-0 index range.
    pub start: u64,
    pub end: u64,
}

/// Dimension-0 indices per block when one index holds `inner` values of the variables
/// `vars` (indices into the layout's variables).
pub(crate) fn block_rows(layout: &ArrayLayout, vars: &[usize], inner: u64) -> u64 {
    let chunk = vars
        .iter()
        .filter_map(|&v| layout.vars.get(v).and_then(|c| c.outer_chunk))
        .max();
    block_step(BLOCK_ELEMENTS / inner.max(1), chunk)
}

/// About `rows` indices (at least one), rounded to whole chunks of `chunk` indices when a
/// chunk is not far larger than a block.
fn block_step(rows: u64, chunk: Option<u64>) -> u64 {
    let rows = rows.max(1);
    match chunk {
        Some(c) if c > 1 && c <= 8 * rows => (rows / c).max(1) * c,
        _ => rows,
    }
}

/// The global range `lo..hi` of dimension 0 cut at file boundaries and at file-local
/// multiples of `step`.
pub(crate) fn blocks(layout: &ArrayLayout, lo: u64, hi: u64, step: u64) -> Vec<ReadBlock> {
    let step = step.max(1);
    let mut out = Vec::new();
    for (file, f) in layout.files.iter().enumerate() {
        let (mut a, e) = (lo.max(f.offset), hi.min(f.offset + f.len));
        while a < e {
            let next_cut = f.offset + ((a - f.offset) / step + 1) * step;
            let b = next_cut.min(e);
            out.push(ReadBlock {
                file,
                start: a,
                end: b,
            });
            a = b;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::block_step;

    #[test]
    fn blocks_hold_whole_chunks() {
        // Contiguous or one step per chunk: the block size as asked.
        assert_eq!(block_step(4, None), 4);
        assert_eq!(block_step(4, Some(1)), 4);
        assert_eq!(block_step(0, None), 1);
        // Rounded down to whole chunks, and up to one chunk when a chunk is larger.
        assert_eq!(block_step(20, Some(7)), 14);
        assert_eq!(block_step(4, Some(10)), 10);
        // A chunk far larger than a block is read in parts rather than whole.
        assert_eq!(block_step(4, Some(512)), 4);
    }
}
