//! The shared in-memory model every format is read into and written from
//! (DESIGN.md §2): a dataset-wide [`Catalog`] of classes, [`Item`]s, and per
//! item a [`LabelMap`] of segment ids. Segment 0 is "unlabeled" — background
//! is never a class.

use serde_json::{Map, Value};
use std::collections::HashMap;

/// Free-form attributes (JSON values), on classes and on segments.
pub type Attributes = Map<String, Value>;

/// Dense, 1-based class id: index into the [`Catalog`] plus one.
pub type ClassId = u32;

/// A class colour, kept at the precision the source format stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Color {
    /// 8 bits per channel (CVAT, Segments.ai).
    Rgb8([u8; 3]),
    /// 16 bits per channel (Datagen).
    Rgb16([u16; 3]),
}

impl Color {
    /// The colour at 8-bit precision (16-bit channels rounded: `round(v / 257)`).
    pub fn to_rgb8(self) -> [u8; 3] {
        match self {
            Color::Rgb8(c) => c,
            Color::Rgb16(c) => c.map(|v| ((u32::from(v) * 255 + 32767) / 65535) as u8),
        }
    }

    /// The colour at 16-bit precision (8-bit channels scaled ×257, so 255 → 65535).
    pub fn to_rgb16(self) -> [u16; 3] {
        match self {
            Color::Rgb8(c) => c.map(|v| u16::from(v) * 257),
            Color::Rgb16(c) => c,
        }
    }

    /// Bits per channel: 8 or 16.
    pub fn bits(self) -> u8 {
        match self {
            Color::Rgb8(_) => 8,
            Color::Rgb16(_) => 16,
        }
    }

    /// The channels as plain numbers, at the stored precision.
    pub fn channels(self) -> [u16; 3] {
        match self {
            Color::Rgb8(c) => c.map(u16::from),
            Color::Rgb16(c) => c,
        }
    }
}

impl std::fmt::Display for Color {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [r, g, b] = self.channels();
        write!(f, "({r},{g},{b})")
    }
}

/// Whether a class's segments are countable objects or amorphous regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClassKind {
    /// Has instances (car #1, car #2).
    Thing,
    /// One region per image (sky, road).
    Stuff,
}

/// One class of the dataset-wide catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct Class {
    /// Unique, non-empty name (Datagen: the dotted path, `human.head.hair`).
    pub name: String,
    /// The source's colour for the class, if it has one.
    pub color: Option<Color>,
    /// Thing or stuff.
    pub kind: ClassKind,
    /// Format-specific extras (CVAT parts/actions, Segments.ai category attributes).
    pub attributes: Attributes,
}

impl Class {
    /// A class with no colour and no attributes.
    pub fn new(name: impl Into<String>, kind: ClassKind) -> Self {
        Class {
            name: name.into(),
            color: None,
            kind,
            attributes: Attributes::new(),
        }
    }

    /// The same class with a colour.
    pub fn with_color(mut self, color: Color) -> Self {
        self.color = Some(color);
        self
    }
}

/// The dataset-wide class table, built from metadata before any pixel is read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    classes: Vec<Class>,
    by_name: HashMap<String, ClassId>,
}

impl Catalog {
    /// Checks that names are non-empty and unique.
    pub fn new(classes: Vec<Class>) -> Result<Self, String> {
        let mut by_name = HashMap::with_capacity(classes.len());
        for (index, class) in classes.iter().enumerate() {
            if class.name.is_empty() {
                return Err("a class has an empty name".into());
            }
            let id = ClassId::try_from(index + 1).map_err(|_| "too many classes".to_string())?;
            if by_name.insert(class.name.clone(), id).is_some() {
                return Err(format!("class '{}' is defined twice", class.name));
            }
        }
        Ok(Catalog { classes, by_name })
    }

    /// Number of classes.
    pub fn len(&self) -> usize {
        self.classes.len()
    }

    /// True when there are no classes.
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// The class with this id. Panics on an id the catalog did not hand out.
    pub fn get(&self, id: ClassId) -> &Class {
        &self.classes[id as usize - 1]
    }

    /// The id of the class with this name.
    pub fn find(&self, name: &str) -> Option<ClassId> {
        self.by_name.get(name).copied()
    }

    /// Whether `id` names a class of this catalog.
    pub fn contains(&self, id: ClassId) -> bool {
        id >= 1 && (id as usize) <= self.classes.len()
    }

    /// `(id, class)` in id order.
    pub fn iter(&self) -> impl Iterator<Item = (ClassId, &Class)> {
        self.classes
            .iter()
            .enumerate()
            .map(|(i, c)| (i as ClassId + 1, c))
    }

    /// The classes in id order.
    pub fn classes(&self) -> &[Class] {
        &self.classes
    }
}

/// One mask-bearing image of a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Unique, `/`-separated, stable across formats (`datapoint_00001/camera`, `frame_000001`).
    pub key: String,
    /// The split the item belongs to (`train`, `val`), if the format has splits.
    pub subset: Option<String>,
    /// The item's source image when it is a file of the input (a path there).
    pub image: Option<String>,
    /// The item's source image when it lives elsewhere: the URL the source
    /// gave (Segments.ai `attributes.image.url`), kept for formats that refer
    /// to images by URL.
    pub image_url: Option<String>,
    /// The item's identity in the source's service (Segments.ai sample
    /// `uuid`), kept so labels can be uploaded back to the same sample.
    pub source_id: Option<String>,
}

impl Item {
    /// An item with just a key.
    pub fn new(key: impl Into<String>) -> Self {
        Item {
            key: key.into(),
            subset: None,
            image: None,
            image_url: None,
            source_id: None,
        }
    }
}

/// Checks that an item key can become a relative output path: non-empty
/// `/`-separated components, none of them `.` or `..`, no backslash or NUL,
/// not absolute.
pub fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("an item key is empty".into());
    }
    if key.starts_with('/') {
        return Err(format!("item key '{key}' is an absolute path"));
    }
    if key.contains(['\\', '\0']) {
        return Err(format!(
            "item key '{key}' contains a backslash or NUL character"
        ));
    }
    for part in key.split('/') {
        if part.is_empty() || part == "." || part == ".." {
            return Err(format!(
                "item key '{key}' has an empty, '.' or '..' path component and could escape the output folder"
            ));
        }
    }
    Ok(())
}

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
pub struct RunIds {
    width: u32,
    runs: Vec<Run>,
    row_starts: Vec<u32>,
    /// Pixels of the current (unfinished) row so far.
    column: u32,
    max: u32,
}

impl RunIds {
    /// Runs for an image `width` pixels wide (at least 1).
    pub fn new(width: u32) -> Self {
        assert!(width > 0, "an image is at least one pixel wide");
        RunIds {
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
        let mut runs = RunIds::new(width);
        for &id in &ids {
            runs.push_run(id, 1);
        }
        Self::from_runs(width, height, runs, segments)
    }

    /// A label map from runs built with [`RunIds`], whose largest id is
    /// already known: no pass over the pixels.
    pub fn from_runs(
        width: u32,
        height: u32,
        runs: RunIds,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_maps_from_runs_check_size_and_largest_id_without_a_pass() {
        let segments = vec![Segment::new(1, None)];
        let mut runs = RunIds::new(2);
        runs.push_run(1, 3);
        runs.push_run(0, 1);
        assert!(LabelMap::from_runs(2, 2, runs.clone(), segments.clone()).is_ok());
        assert!(LabelMap::from_runs(3, 2, runs.clone(), segments.clone()).is_err());
        runs.push_run(2, 0);
        let err = LabelMap::from_runs(2, 2, runs, segments).unwrap_err();
        assert!(err.contains("segment id 2"), "{err}");
    }

    #[test]
    fn sixteen_bit_colours_round_to_nearest_eight_bit_value() {
        assert_eq!(Color::Rgb16([0, 65535, 257]).to_rgb8(), [0, 255, 1]);
        assert_eq!(Color::Rgb16([128, 129, 385]).to_rgb8(), [0, 1, 1]);
        assert_eq!(Color::Rgb8([1, 2, 255]).to_rgb16(), [257, 514, 65535]);
    }

    #[test]
    fn catalog_rejects_duplicate_and_empty_names() {
        let a = Class::new("a", ClassKind::Thing);
        assert!(Catalog::new(vec![a.clone(), a.clone()]).is_err());
        assert!(Catalog::new(vec![Class::new("", ClassKind::Stuff)]).is_err());
        let cat = Catalog::new(vec![a, Class::new("b", ClassKind::Stuff)]).unwrap();
        assert_eq!(cat.find("b"), Some(2));
        assert_eq!(cat.get(1).name, "a");
    }

    #[test]
    fn keys_that_could_escape_the_output_are_refused() {
        for bad in ["", "/etc/x", "a/../b", "..", "a//b", "a\\b", "./a"] {
            assert!(check_key(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["frame_000001", "dir/sub/img 1", "ünï"] {
            assert!(check_key(good).is_ok(), "{good:?} refused");
        }
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
        let mut runs = RunIds::new(3);
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
        let mut short = RunIds::new(3);
        short.push_run(0, 4);
        assert!(LabelMap::from_runs(3, 2, short, Vec::new()).is_err());
    }
}
