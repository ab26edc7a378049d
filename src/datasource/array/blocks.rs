//! Read blocks and partitions of the array scans (NetCDF, HDF5) and of NetCDF dense
//! aggregation, along dimension 0 of files concatenated along it.
//!
//! A block is a run of dimension-0 indices inside one file holding about a million values:
//! what one read call decodes and what is in memory at a time, so scans of large files
//! stream instead of reading a partition's whole range at once. Blocks end at whole storage
//! chunks, and so do partitions (runs of blocks, one per output stream): a chunk cut in two
//! would be decoded twice.

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

/// Where dimension 0 is cut: blocks of `step` indices, partitions at whole chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cuts {
    /// Dimension-0 indices per block (whole chunks when `chunk` is set).
    step: u64,
    /// Extent along dimension 0 of one storage chunk, when blocks and partitions align to it.
    chunk: Option<u64>,
}

impl Cuts {
    /// Cuts for `inner` values per dimension-0 index stored in chunks of `chunk` indices
    /// along dimension 0 (None when contiguous). Blocks hold whole chunks unless a chunk is
    /// far larger than a block; then it is read in parts and nothing aligns to it.
    pub(crate) fn new(inner: u64, chunk: Option<u64>) -> Self {
        let rows = (BLOCK_ELEMENTS / inner.max(1)).max(1);
        match chunk {
            Some(c) if c > 1 && c <= 8 * rows => Self {
                step: (rows / c).max(1) * c,
                chunk: Some(c),
            },
            _ => Self {
                step: rows,
                chunk: None,
            },
        }
    }

    /// The global range `lo..hi` of dimension 0 cut at file boundaries and at file-local
    /// multiples of the step. `files` holds each file's `(offset, len)` along dimension 0.
    pub(crate) fn blocks(&self, files: &[(u64, u64)], lo: u64, hi: u64) -> Vec<ReadBlock> {
        let step = self.step.max(1);
        let mut out = Vec::new();
        for (file, &(offset, len)) in files.iter().enumerate() {
            let (mut a, e) = (lo.max(offset), hi.min(offset + len));
            while a < e {
                let b = (offset + ((a - offset) / step + 1) * step).min(e);
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

    /// The selected `ranges` (one per dimension) as at most `target` partitions of about
    /// equal runs of dimension 0, cut at chunk boundaries, each a list of blocks. A scalar
    /// (no dimensions) is one block of one row; an empty selection one empty partition.
    pub(crate) fn partitions(
        &self,
        files: &[(u64, u64)],
        ranges: &[(u64, u64)],
        target: usize,
    ) -> Vec<Vec<ReadBlock>> {
        let Some(&(lo, hi)) = ranges.first() else {
            return vec![vec![ReadBlock {
                file: 0,
                start: 0,
                end: 1,
            }]];
        };
        if ranges.iter().any(|(a, b)| a >= b) {
            return vec![Vec::new()];
        }
        let parts = (target.max(1) as u64).min(hi - lo);
        let mut cuts = vec![lo];
        for p in 1..parts {
            let cut = self.snap(files, lo + p * (hi - lo) / parts).clamp(lo, hi);
            if cuts.last().is_some_and(|last| cut > *last) {
                cuts.push(cut);
            }
        }
        if cuts.last().is_some_and(|last| hi > *last) {
            cuts.push(hi);
        }
        cuts.windows(2)
            .map(|w| self.blocks(files, w[0], w[1]))
            .collect()
    }

    /// Global index `index` moved to the nearest chunk boundary (or end) of its file.
    fn snap(&self, files: &[(u64, u64)], index: u64) -> u64 {
        let Some(chunk) = self.chunk else {
            return index;
        };
        let Some(&(offset, len)) = files.iter().find(|(o, l)| index < o + l) else {
            return index;
        };
        let local = index.saturating_sub(offset);
        let down = local / chunk * chunk;
        let up = (down + chunk).min(len);
        offset + if local - down <= up - local { down } else { up }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(rows: u64, chunk: Option<u64>) -> u64 {
        Cuts::new(BLOCK_ELEMENTS / rows, chunk).step
    }

    #[test]
    fn blocks_hold_whole_chunks() {
        // Contiguous or one step per chunk: the block size as asked.
        assert_eq!(step(4, None), 4);
        assert_eq!(step(4, Some(1)), 4);
        assert_eq!(Cuts::new(BLOCK_ELEMENTS * 2, None).step, 1);
        // Rounded down to whole chunks, and up to one chunk when a chunk is larger.
        assert_eq!(step(20, Some(7)), 14);
        assert_eq!(step(4, Some(10)), 10);
        // A chunk far larger than a block is read in parts rather than whole.
        assert_eq!(step(4, Some(512)), 4);
        assert_eq!(Cuts::new(BLOCK_ELEMENTS / 4, Some(512)).chunk, None);
    }

    fn bounds(parts: &[Vec<ReadBlock>]) -> Vec<Vec<(usize, u64, u64)>> {
        parts
            .iter()
            .map(|p| p.iter().map(|b| (b.file, b.start, b.end)).collect())
            .collect()
    }

    #[test]
    fn partitions_split_evenly_across_files_without_chunks() {
        let cuts = Cuts::new(BLOCK_ELEMENTS, None); // one index per block
        let files = [(0, 3), (3, 3)];
        let parts = cuts.partitions(&files, &[(1, 6), (0, 2)], 2);
        assert_eq!(
            bounds(&parts),
            [
                vec![(0, 1, 2), (0, 2, 3)],
                vec![(1, 3, 4), (1, 4, 5), (1, 5, 6)]
            ]
        );
        // Never more partitions than indices, and every index exactly once.
        let parts = cuts.partitions(&files, &[(0, 6)], 8);
        assert_eq!(parts.len(), 6);
        let starts: Vec<u64> = parts.iter().flatten().map(|b| b.start).collect();
        assert_eq!(starts, [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn partitions_end_at_chunk_boundaries_of_each_file() {
        // Chunks of 4 indices; files of 10 and 6 indices.
        let cuts = Cuts::new(BLOCK_ELEMENTS / 8, Some(4));
        let files = [(0, 10), (10, 6)];
        let parts = cuts.partitions(&files, &[(0, 16)], 4);
        let ends: Vec<u64> = parts.iter().map(|p| p.last().unwrap().end).collect();
        // Even cuts at 4, 8, 12 are chunk boundaries (12 = file 2's index 2 snaps to 10 or 14).
        assert_eq!(ends, [4, 8, 10, 16]);
        for p in &parts {
            for b in p {
                let offset = files[b.file].0;
                assert!((b.start - offset) % 4 == 0, "{b:?}");
            }
        }
        // Fewer chunks than asked: one partition per chunk at most.
        let parts = cuts.partitions(&[(0, 8)], &[(0, 8)], 8);
        assert_eq!(bounds(&parts), [vec![(0, 0, 4)], vec![(0, 4, 8)]]);
    }

    #[test]
    fn scalars_and_empty_selections() {
        let cuts = Cuts::new(1, None);
        assert_eq!(
            bounds(&cuts.partitions(&[(0, 1)], &[], 4)),
            [vec![(0, 0, 1)]]
        );
        let empty = cuts.partitions(&[(0, 5)], &[(2, 2), (0, 3)], 4);
        assert_eq!(empty, [Vec::<ReadBlock>::new()]);
    }
}
