//! The shared in-memory model every format is read into and written from
//! (DESIGN.md §2): a dataset-wide [`Catalog`] of classes, [`Item`]s, and per
//! item a [`LabelMap`] of segment ids. Segment 0 is "unlabeled" — background
//! is never a class.

use serde_json::{Map, Value};
use std::collections::HashMap;

mod keys;
mod label_map;
pub use keys::{KeySurvey, key_to_path, path_to_key, survey_keys};
pub use label_map::{LabelMap, Run, RunsBuilder, Segment};

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
    /// Its id in the formats that number classes, when it has one of its
    /// own (see [`ClassNumber`]).
    pub number: Option<ClassNumber>,
}

/// A class's id in the formats that number classes in their files (COCO
/// category ids, index-mask values), beyond its place in the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClassNumber {
    /// The id the source gave it (a COCO category id): a format of the
    /// same numbering (COCO's, from 1) writes it back.
    Source(u32),
    /// The id `--map` gave it (`car=car:7`): every format with class ids writes it.
    Mapped(u32),
    /// `--map old=ignore`: the target's ignore value (255 in an index mask).
    Ignore,
}

impl Class {
    /// A class with no colour and no attributes.
    pub fn new(name: impl Into<String>, kind: ClassKind) -> Self {
        Class {
            name: name.into(),
            color: None,
            kind,
            attributes: Attributes::new(),
            number: None,
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
    /// Unique, stable across formats, any text (`datapoint_00001/camera`, `frame_000001`,
    /// `s3://bucket/x.png`); files named after it go through [`key_to_path`].
    pub key: String,
    /// The split the item belongs to (`train`, `val`), if the format has splits.
    pub subset: Option<String>,
    /// The item's source image when it is a file of the input (a path there).
    pub image: Option<String>,
    /// Where its mask is and how to read it; `None`: the item has no mask.
    pub mask: Option<MaskRef>,
    /// What the source says about the item beyond the model (see [`Origin`]).
    pub origin: Origin,
}

impl Item {
    /// An item with just a key (no mask).
    pub fn new(key: impl Into<String>) -> Self {
        Item {
            key: key.into(),
            subset: None,
            image: None,
            mask: None,
            origin: Origin::default(),
        }
    }
}

/// A file a mask is read from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileRef {
    /// A file the input lists: its index in the input's sorted file list
    /// (no copy of its path per item).
    Listed(u32),
    /// A file of the input the input does not list (beside an annotation
    /// file given as INPUT): a `/`-separated path from the input's root.
    Input(String),
    /// A file of the local disk outside the input (an annotation file names
    /// it by absolute path, `file://` URL, or through `--mask-root`).
    Local(std::path::PathBuf),
}

impl FileRef {
    /// The input's file at `path`: by its index in `listed` (the input's
    /// sorted file list) when it is there.
    pub fn in_input(listed: &[String], path: String) -> FileRef {
        match listed.binary_search_by(|f| f.as_str().cmp(&path)) {
            Ok(index) => FileRef::Listed(index as u32),
            Err(_) => FileRef::Input(path),
        }
    }

    /// Its path in the input (`listed`: the input's file list); `None` for
    /// a file of the local disk.
    pub fn input_path<'a>(&'a self, listed: &'a [String]) -> Option<&'a str> {
        match self {
            FileRef::Listed(index) => Some(&listed[*index as usize]),
            FileRef::Input(path) => Some(path),
            FileRef::Local(_) => None,
        }
    }
}

/// The handle to one item's mask: the files it is decoded from and what the
/// format needs to know to decode them. Small and fixed per item, so that
/// the item list of a large dataset stays small.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskRef {
    /// The files, in the format's order (CVAT: class mask, object mask).
    pub files: Vec<FileRef>,
    /// What the mask's pixel values mean, where a per-item annotation lists
    /// it (Nucleus segments, Segments.ai annotations); empty where a
    /// dataset-wide table does (CVAT, Datagen).
    pub listed: ListedSegments,
    /// A number the format gives the item for decoding: which of its tables
    /// applies (Datagen: the metadata file), or where in the annotation file
    /// the item is (Nucleus: the line), for messages.
    pub recipe: u32,
}

impl MaskRef {
    /// A mask read from `files` with nothing listed.
    pub fn new(files: Vec<FileRef>) -> Self {
        MaskRef {
            files,
            listed: ListedSegments::default(),
            recipe: 0,
        }
    }
}

/// One pixel value an annotation lists for a mask: what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed {
    /// The pixel value (Nucleus: the segment index; Segments.ai: the object id).
    pub value: u32,
    /// Its class (0: unlabeled, e.g. Nucleus' `background`).
    pub class: ClassId,
    /// Its instance number (0: none).
    pub instance: u32,
    /// The segment id it becomes (0 when unlabeled): classed values are the
    /// mask's segments 1..N in value order.
    pub segment: u32,
}

/// The values one mask's annotation lists, sorted by value, with their
/// segments' attributes kept as compact JSON text (parsed when decoded):
/// a few bytes per segment instead of a parsed JSON tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListedSegments {
    entries: Box<[Listed]>,
    /// `(segment id, attributes as JSON text)` for segments that have some.
    attributes: Box<[(u32, Box<str>)]>,
}

impl ListedSegments {
    /// From `(value, class, instance, attributes)` per listed value (class 0:
    /// unlabeled, instance 0: none), the classed values becoming segments
    /// 1..N in value order. The error names a value listed twice.
    pub fn new(mut values: Vec<(u32, ClassId, u32, Attributes)>) -> Result<Self, u32> {
        values.sort_by_key(|v| v.0);
        Self::in_listed_order(values)
    }

    /// As [`ListedSegments::new`], but the classed values become segments
    /// in the order given (a COCO panoptic `segments_info`'s order).
    pub fn in_listed_order(values: Vec<(u32, ClassId, u32, Attributes)>) -> Result<Self, u32> {
        let mut entries = Vec::with_capacity(values.len());
        let mut attributes = Vec::new();
        let mut segments = 0u32;
        for (value, class, instance, attrs) in values {
            let segment = if class == 0 {
                0
            } else {
                segments += 1;
                segments
            };
            if segment != 0 && !attrs.is_empty() {
                let text = serde_json::to_string(&attrs).expect("JSON to memory");
                attributes.push((segment, text.into_boxed_str()));
            }
            entries.push(Listed {
                value,
                class,
                instance,
                segment,
            });
        }
        entries.sort_by_key(|e| e.value);
        if let Some(pair) = entries.windows(2).find(|w| w[0].value == w[1].value) {
            return Err(pair[0].value);
        }
        Ok(ListedSegments {
            entries: entries.into_boxed_slice(),
            attributes: attributes.into_boxed_slice(),
        })
    }

    /// The listed values, in value order.
    pub fn entries(&self) -> &[Listed] {
        &self.entries
    }

    /// Mutable access to the entries' classes and instances, for readers
    /// that learn them after listing (Segments.ai categories after samples).
    pub fn entries_mut(&mut self) -> &mut [Listed] {
        &mut self.entries
    }

    /// What pixel value `value` is listed as, if it is listed.
    pub fn get(&self, value: u32) -> Option<&Listed> {
        self.entries
            .binary_search_by_key(&value, |e| e.value)
            .ok()
            .map(|i| &self.entries[i])
    }

    /// The mask's segments, in segment-id order, with their attributes.
    pub fn segments(&self) -> Vec<Segment> {
        let mut classed: Vec<&Listed> = self.entries.iter().filter(|e| e.class != 0).collect();
        classed.sort_by_key(|e| e.segment);
        let mut attributes = self.attributes.iter().peekable();
        classed
            .into_iter()
            .map(|e| {
                let mut segment = Segment::new(e.class, (e.instance != 0).then_some(e.instance));
                if let Some((_, text)) = attributes.next_if(|(id, _)| *id == e.segment) {
                    segment.attributes = serde_json::from_str(text).expect("written by new()");
                }
                segment
            })
            .collect()
    }
}

/// What a source says about an item beyond the model, for formats that
/// refer back to it: keys named by the constants below, values as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin(Vec<(&'static str, String)>);

impl Origin {
    /// The URL of the item's source image when it is not a file of the
    /// input (Segments.ai `attributes.image.url`).
    pub const IMAGE_URL: &'static str = "image-url";
    /// The item's id in the service it came from, as `service:id`
    /// (`segments.ai:<sample uuid>`), so labels can go back to it.
    pub const SERVICE_ID: &'static str = "service-id";
    /// The image sequence the item is a frame of (Segments.ai: the
    /// sample's key), so that a writer of sequences can restore it.
    pub const SEQUENCE: &'static str = "sequence";
    /// The item's image id in a format that numbers images (COCO), so that
    /// such a format writes the same ids back.
    pub const IMAGE_ID: &'static str = "image-id";

    /// The value of `key`, if the source gave one.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `key` to `value`.
    pub fn set(&mut self, key: &'static str, value: impl Into<String>) {
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => {
                // Most items have one or two origin values: no spare room.
                self.0.reserve_exact(1);
                self.0.push((key, value));
            }
        }
    }
}

/// Checks that an item key can be one: it is not empty. Any other text is
/// a key (a foreign id such as `s3://bucket/x.png`); writers name files
/// after keys through [`key_to_path`].
pub fn check_key(key: &str) -> Result<(), String> {
    match key.is_empty() {
        true => Err("an item key is empty".into()),
        false => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn any_text_but_the_empty_one_is_a_key() {
        assert!(check_key("").is_err());
        for good in ["frame_000001", "/etc/x", "a/../b", "s3://b/x.png", "a\\b"] {
            assert!(check_key(good).is_ok(), "{good:?} refused");
        }
    }
}
