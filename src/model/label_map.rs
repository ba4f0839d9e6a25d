//! One item's decoded mask: segment ids stored as row runs, and what each
//! segment is.

use super::{Attributes, ClassId};

/// What one segment id of a [`LabelMap`] stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// The segment's class.
    pub class: ClassId,
    /// The instance number within its image, for things.
    pub instance: Option<u32>,
    /// Format-specific extras (Nucleus segment metadata, Segments.ai annotation attributes).
    pub attributes: Attributes,
}

impl Segment {
    /// A segment of `class`, with an optional instance number, no attributes.
    pub fn new(class: ClassId, instance: Option<u32>) -> Self {
        Segment {
            class,
            instance,
            attributes: Attributes::new(),
        }
    }
}

/// A run of `len` pixels of segment `id` within one row of a [`LabelMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// The segment id (0 = unlabeled).
    pub id: u32,
    /// How many pixels, at least 1.
    pub len: u32,
}

/// One item's decoded mask: a segment id per pixel (0 = unlabeled) and what
/// each id ≥ 1 means (`segments[id - 1]`). Pixels are stored row by row as
/// runs of equal ids (masks are mostly long runs): a 1024² mask of a few
/// dozen regions takes kilobytes, not the 4 MB of one id per pixel, and
/// writers paint a run at a time.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelMap {
    width: u32,
    height: u32,
    runs: Vec<Run>,
    /// `runs[row_starts[y]..row_starts[y + 1]]` is row `y`.
    row_starts: Vec<u32>,
    segments: Vec<Segment>,
}

/// Segment ids built a run at a time, row by row, keeping track of the
/// largest, so that a [`LabelMap`] made from them needs no second pass to
/// check them. Runs are split at row ends and equal neighbours merged, so
/// one mask has one representation.
#[derive(Debug, Clone)]
pub struct RunsBuilder {
    width: u32,
    runs: Vec<Run>,
    row_starts: Vec<u32>,
    /// Pixels of the current (unfinished) row so far.
    column: u32,
    max: u32,
}

impl RunsBuilder {
    /// Runs for an image `width` pixels wide (at least 1).
    pub fn new(width: u32) -> Self {
        assert!(width > 0, "an image is at least one pixel wide");
        RunsBuilder {
            width,
            runs: Vec::new(),
            row_starts: vec![0],
            column: 0,
            max: 0,
        }
    }

    /// Appends `len` pixels of segment `id`, continuing on the next rows
    /// when they do not fit the current one.
    #[inline]
    pub fn push_run(&mut self, id: u32, len: usize) {
        self.max = self.max.max(id);
        let mut left = len;
        while left > 0 {
            let room = (self.width - self.column) as usize;
            let take = left.min(room);
            match self.runs.last_mut() {
                Some(last) if self.column > 0 && last.id == id => last.len += take as u32,
                _ => self.runs.push(Run {
                    id,
                    len: take as u32,
                }),
            }
            self.column += take as u32;
            left -= take;
            if self.column == self.width {
                self.column = 0;
                self.row_starts.push(self.runs.len() as u32);
            }
        }
    }

    /// Runs so far.
    pub fn run_count(&self) -> usize {
        self.runs.len()
    }

    /// Complete rows so far.
    pub fn rows(&self) -> usize {
        self.row_starts.len() - 1
    }

    /// Every pixel's id, expanded (for tests and small masks).
    pub fn ids(&self) -> Vec<u32> {
        expand(&self.runs)
    }
}

fn expand(runs: &[Run]) -> Vec<u32> {
    let mut ids = Vec::new();
    for run in runs {
        ids.resize(ids.len() + run.len as usize, run.id);
    }
    ids
}

impl LabelMap {
    /// From one id per pixel (row-major); checks that there is one id per
    /// pixel and every id names a segment.
    pub fn new(
        width: u32,
        height: u32,
        ids: Vec<u32>,
        segments: Vec<Segment>,
    ) -> Result<Self, String> {
        let expected = width as usize * height as usize;
        if ids.len() != expected || width == 0 {
            return Err(format!(
                "label map of {width}x{height} has {} ids, expected {expected}",
                ids.len()
            ));
        }
        let mut runs = RunsBuilder::new(width);
        for &id in &ids {
            runs.push_run(id, 1);
        }
        Self::from_runs(width, height, runs, segments)
    }

    /// A label map from runs built with [`RunsBuilder`], whose largest id is
    /// already known: no pass over the pixels.
    pub fn from_runs(
        width: u32,
        height: u32,
        runs: RunsBuilder,
        segments: Vec<Segment>,
    ) -> Result<Self, String> {
        if runs.width != width || runs.column != 0 || runs.rows() != height as usize {
            return Err(format!(
                "label map of {width}x{height} has {} complete rows of {} pixels",
                runs.rows(),
                runs.width
            ));
        }
        if runs.max as usize > segments.len() {
            return Err(format!(
                "label map uses segment id {} but defines only {} segments",
                runs.max,
                segments.len()
            ));
        }
        Ok(LabelMap {
            width,
            height,
            runs: runs.runs,
            row_starts: runs.row_starts,
            segments,
        })
    }

    /// The same pixels with every segment id `i` renamed `new_id[i]`
    /// (`new_id[0]` is 0: unlabeled stays so), and these segments; runs
    /// that become equal neighbours merge.
    pub fn renumbered(&self, new_id: &[u32], segments: Vec<Segment>) -> Result<Self, String> {
        let mut runs = RunsBuilder::new(self.width);
        for run in &self.runs {
            runs.push_run(new_id[run.id as usize], run.len as usize);
        }
        Self::from_runs(self.width, self.height, runs, segments)
    }

    /// The same pixels with these segments (as many as before).
    pub fn with_segments(mut self, segments: Vec<Segment>) -> Self {
        assert_eq!(segments.len(), self.segments.len(), "one for one");
        self.segments = segments;
        self
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The runs of row `y`, left to right; their lengths sum to the width.
    pub fn row(&self, y: usize) -> &[Run] {
        &self.runs[self.row_starts[y] as usize..self.row_starts[y + 1] as usize]
    }

    /// Every pixel's segment id, row-major, expanded from the runs (4 bytes
    /// per pixel: for tests and small masks; writers paint from [`LabelMap::row`]).
    pub fn ids(&self) -> Vec<u32> {
        expand(&self.runs)
    }

    /// The segments; id `i` is `segments()[i - 1]`.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The segment of id `id` (`None` for 0, unlabeled).
    pub fn segment(&self, id: u32) -> Option<&Segment> {
        id.checked_sub(1).map(|i| &self.segments[i as usize])
    }

    /// Pixels per id: index 0 = unlabeled, `i` = segment id `i`.
    pub fn pixel_counts(&self) -> Vec<u64> {
        let mut counts = vec![0u64; self.segments.len() + 1];
        for run in &self.runs {
            counts[run.id as usize] += u64::from(run.len);
        }
        counts
    }

    /// Numbers 1.. for the segments that have pixels, in segment order, 0
    /// for the others (index = segment id; index 0, unlabeled, is 0): how a
    /// writer numbers the segments when it cannot number them all.
    pub fn number_segments_with_pixels(&self) -> Vec<u32> {
        let mut next = 0;
        self.pixel_counts()
            .iter()
            .enumerate()
            .map(|(id, &pixels)| match (id, pixels) {
                (0, _) | (_, 0) => 0,
                _ => {
                    next += 1;
                    next
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_maps_from_runs_check_size_and_largest_id_without_a_pass() {
        let segments = vec![Segment::new(1, None)];
        let mut runs = RunsBuilder::new(2);
        runs.push_run(1, 3);
        runs.push_run(0, 1);
        assert!(LabelMap::from_runs(2, 2, runs.clone(), segments.clone()).is_ok());
        assert!(LabelMap::from_runs(3, 2, runs.clone(), segments.clone()).is_err());
        runs.push_run(2, 0);
        let err = LabelMap::from_runs(2, 2, runs, segments).unwrap_err();
        assert!(err.contains("segment id 2"), "{err}");
    }

    #[test]
    fn label_map_checks_ids_against_segments() {
        assert!(LabelMap::new(2, 1, vec![0, 2], vec![Segment::new(1, None)]).is_err());
        assert!(LabelMap::new(2, 2, vec![0, 1], vec![Segment::new(1, None)]).is_err());
        let map = LabelMap::new(3, 1, vec![0, 1, 1], vec![Segment::new(1, Some(1))]).unwrap();
        assert_eq!(map.pixel_counts(), vec![1, 2]);
        assert_eq!(map.segment(1).unwrap().instance, Some(1));
        assert!(map.segment(0).is_none());
    }

    #[test]
    fn runs_split_at_row_ends_and_merge_equal_neighbours() {
        let mut runs = RunsBuilder::new(3);
        runs.push_run(1, 2);
        runs.push_run(1, 3); // ends row 0, continues on row 1
        runs.push_run(0, 1);
        assert_eq!(runs.rows(), 2);
        let map = LabelMap::from_runs(3, 2, runs, vec![Segment::new(1, None)]).unwrap();
        assert_eq!(map.row(0), &[Run { id: 1, len: 3 }]);
        assert_eq!(map.row(1), &[Run { id: 1, len: 2 }, Run { id: 0, len: 1 }]);
        assert_eq!(map.ids(), vec![1, 1, 1, 1, 1, 0]);
        let same = LabelMap::new(3, 2, vec![1, 1, 1, 1, 1, 0], vec![Segment::new(1, None)]);
        assert_eq!(same.unwrap(), map);
        let mut short = RunsBuilder::new(3);
        short.push_run(0, 4);
        assert!(LabelMap::from_runs(3, 2, short, Vec::new()).is_err());
    }
}
